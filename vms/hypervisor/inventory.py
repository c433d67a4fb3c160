"""What a host holds that we made: domains with our metadata mark, volumes named from a VM UUID."""

from __future__ import annotations

import re
from dataclasses import dataclass

import libvirt

from vms.hypervisor import domains
from vms.hypervisor.errors import wrap
from vms.hypervisor.storage import refresh_pool
from vms.hypervisor.uris import safe_uri

_VOLUME_OF_VM = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-")


def volume_vm_uuid(name: str) -> str | None:
    """The VM UUID a volume is named from (its disks, its cloud-init seed), or None."""
    match = _VOLUME_OF_VM.match(name)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Tagged:
    kind: str  # "domain" or "volume"
    name: str
    vm_uuid: str
    pool: str = ""  # a volume's pool


def tagged_resources(conn: libvirt.virConnect, metadata_ns: str) -> list[Tagged]:
    """Our domains, and the volumes named from a VM UUID in every active pool (a template may name
    any pool for its VMs' disks)."""
    found: list[Tagged] = []
    try:
        for dom in conn.listAllDomains(0):
            try:
                dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, metadata_ns, 0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
                    continue  # not ours: never touched
                raise
            found.append(Tagged("domain", dom.name(), dom.UUIDString()))
        for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            refresh_pool(pool)
            for vol in pool.listAllVolumes(0):
                match = _VOLUME_OF_VM.match(vol.name())
                if match:
                    found.append(Tagged("volume", vol.name(), match.group(1), pool.name()))
    except libvirt.libvirtError as exc:
        raise wrap(exc, "list the domains and volumes we made", f"host {safe_uri(conn.getURI())}") from exc
    return found


def remove(conn: libvirt.virConnect, item: Tagged) -> None:
    try:
        if item.kind == "domain":
            dom = domains.find_by_uuid(conn, item.vm_uuid)
            if dom is not None:
                domains.force_off(dom)
                domains.undefine(dom)
        else:
            pool = conn.storagePoolLookupByName(item.pool)
            vol = pool.storageVolLookupByName(item.name)
            vol.delete(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_STORAGE_VOL):
            return
        raise wrap(exc, f"remove orphaned {item.kind} '{item.name}'", f"host {safe_uri(conn.getURI())}") from exc
