"""Disks and CD-ROM media of a domain on its host: attach, detach, grow, change media (no Django).

A running domain changes live and in its saved config together (LIVE|CONFIG); a stopped one in its
config only; a transient (run-once) domain has no config, so live only. Device XML comes from
vms.domainxml.disks (built with lxml). Every libvirt failure is raised as a HypervisorError naming
what failed and where, with the host's own message.
"""

from __future__ import annotations

import os
import time

import libvirt

from vms.domainxml.disks import SIZES_NS, SIZES_PREFIX, disks_of, sizes_metadata_xml
from vms.hypervisor.errors import HypervisorError, wrap
from vms.hypervisor.storage import find_volume
from vms.hypervisor.uris import safe_uri
from vms.hypervisor.volumes import GIB, disk_volume_name, ensure_disk

# How long a guest gets to release a disk unplugged live (it must answer the ACPI unplug request).
DETACH_TIMEOUT = 20.0


def _where(dom: libvirt.virDomain) -> str:
    return f"host {safe_uri(dom.connect().getURI())}"


def running(dom: libvirt.virDomain) -> bool:
    return bool(dom.isActive())


def _flags(dom: libvirt.virDomain) -> int:
    if not dom.isPersistent():
        return libvirt.VIR_DOMAIN_AFFECT_LIVE
    if dom.isActive():
        return libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
    return libvirt.VIR_DOMAIN_AFFECT_CONFIG


def live_xml(dom: libvirt.virDomain) -> str:
    return dom.XMLDesc(0)


def new_volume_name(conn: libvirt.virConnect, pool_name: str, vm_uuid: str, fmt: str) -> str:
    """`<uuid>-disk<N>.<fmt>` with the lowest N >= 1 no volume of the pool uses (a kept volume keeps its N)."""
    pool = conn.storagePoolLookupByName(pool_name)
    taken = {vol.name().rsplit(".", 1)[0] for vol in pool.listAllVolumes(0)}
    n = 1
    while f"{vm_uuid}-disk{n}" in taken:
        n += 1
    return disk_volume_name(vm_uuid, n, fmt)


def create_volume(conn: libvirt.virConnect, pool_name: str, name: str, size_gib: int, fmt: str) -> str:
    """A new sparse volume; its path."""
    return ensure_disk(conn, pool_name, name, size_gib, fmt)


def delete_volume_at(conn: libvirt.virConnect, path: str) -> bool:
    """Delete the volume at `path`; False when no volume is there any more."""
    try:
        vol = conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return False
        raise wrap(exc, f"find volume {path}", f"host {safe_uri(conn.getURI())}") from exc
    try:
        vol.delete(0)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"delete volume {path}", f"host {safe_uri(conn.getURI())}") from exc
    return True


def volume_of(conn: libvirt.virConnect, path: str) -> libvirt.virStorageVol | None:
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError:
        return None


def capacity_bytes(conn: libvirt.virConnect, dom: libvirt.virDomain, target: str, path: str) -> int | None:
    """The disk's size as the host sees it: QEMU's view of a running disk, else the volume's."""
    try:
        if dom.isActive():
            return int(dom.blockInfo(target)[0])
        vol = volume_of(conn, path)
        return int(vol.info()[1]) if vol is not None else None
    except libvirt.libvirtError:
        return None


def attach(dom: libvirt.virDomain, device_xml: str, what: str) -> None:
    try:
        dom.attachDeviceFlags(device_xml, _flags(dom))
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"attach {what} to VM '{dom.name()}'", _where(dom)) from exc


def detach(dom: libvirt.virDomain, device_xml: str, target: str) -> None:
    """Unplug the disk: live first (waiting until the guest lets it go), then from the saved config.

    Live first, so that a guest that refuses the unplug leaves the VM exactly as it was.
    """
    what = f"disk {target} from VM '{dom.name()}'"
    try:
        if dom.isActive():
            dom.detachDeviceFlags(device_xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            deadline = time.monotonic() + DETACH_TIMEOUT
            while any(d["target"] == target for d in disks_of(dom.XMLDesc(0))):
                if time.monotonic() > deadline:
                    raise HypervisorError(
                        f"detach {what}",
                        _where(dom),
                        f"the guest did not release the disk within {DETACH_TIMEOUT:.0f} s (it must support "
                        "hot-unplug); stop the VM and detach it then",
                    )
                time.sleep(0.2)
        if dom.isPersistent():
            dom.detachDeviceFlags(device_xml, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"detach {what}", _where(dom)) from exc


def change_media(dom: libvirt.virDomain, device_xml: str, target: str, inserting: bool) -> None:
    """Put a medium in the drive or take it out (forced: a guest's tray lock does not stop an eject)."""
    flags = _flags(dom) | (0 if inserting else libvirt.VIR_DOMAIN_DEVICE_MODIFY_FORCE)
    action = "insert the ISO into" if inserting else "eject the ISO from"
    try:
        dom.updateDeviceFlags(device_xml, flags)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"{action} drive {target} of VM '{dom.name()}'", _where(dom)) from exc


def grow(conn: libvirt.virConnect, dom: libvirt.virDomain, target: str, path: str, size_gib: int) -> None:
    """Grow the disk to `size_gib`: QEMU resizes a running disk (blockResize), libvirt a stopped one's volume."""
    new_bytes = size_gib * GIB
    try:
        if dom.isActive():
            dom.blockResize(target, new_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            return
        vol = conn.storageVolLookupByPath(path)
        vol.resize(new_bytes, 0)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"grow disk {target} of VM '{dom.name()}' to {size_gib} GiB", _where(dom)) from exc


def record_sizes(conn: libvirt.virConnect, dom: libvirt.virDomain) -> dict[str, int]:
    """Write every disk's size (whole GiB, rounded up) into the domain's metadata; return them.

    The pages read sizes from the database's copy of the domain XML, which carries this metadata.
    """
    sizes = {}
    for disk in disks_of(dom.XMLDesc(0)):
        if disk["device"] != "disk" or not disk["volume"] or not os.path.isabs(disk["volume"]):
            continue
        size = capacity_bytes(conn, dom, disk["target"], disk["volume"])
        if size is not None:
            sizes[disk["target"]] = -(-size // GIB)
    try:
        dom.setMetadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, sizes_metadata_xml(sizes), SIZES_PREFIX, SIZES_NS, _flags(dom)
        )
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"record the disk sizes of VM '{dom.name()}'", _where(dom)) from exc
    return sizes


def pool_volume(conn: libvirt.virConnect, pool_name: str, name: str) -> libvirt.virStorageVol | None:
    try:
        return find_volume(conn.storagePoolLookupByName(pool_name), name)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"open storage pool '{pool_name}'", f"host {safe_uri(conn.getURI())}") from exc
