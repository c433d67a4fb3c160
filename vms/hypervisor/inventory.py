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


@dataclass(frozen=True)
class Tagged:
    kind: str  # "domain" or "volume"
    name: str
    vm_uuid: str


def tagged_resources(conn: libvirt.virConnect, metadata_ns: str, pool_name: str) -> list[Tagged]:
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
        try:
            pool = conn.storagePoolLookupByName(pool_name)
        except libvirt.libvirtError:
            return found
        refresh_pool(pool)
        for vol in pool.listAllVolumes(0):
            match = _VOLUME_OF_VM.match(vol.name())
            if match:
                found.append(Tagged("volume", vol.name(), match.group(1)))
    except libvirt.libvirtError as exc:
        raise wrap(exc, "list the domains and volumes we made", f"host {safe_uri(conn.getURI())}") from exc
    return found


def remove(conn: libvirt.virConnect, item: Tagged, pool_name: str) -> None:
    try:
        if item.kind == "domain":
            dom = domains.find_by_uuid(conn, item.vm_uuid)
            if dom is not None:
                domains.force_off(dom)
                domains.undefine(dom)
        else:
            pool = conn.storagePoolLookupByName(pool_name)
            vol = pool.storageVolLookupByName(item.name)
            vol.delete(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_STORAGE_VOL):
            return
        raise wrap(exc, f"remove orphaned {item.kind} '{item.name}'", f"host {safe_uri(conn.getURI())}") from exc
