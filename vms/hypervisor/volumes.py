"""A VM's volumes: named from its UUID, so every step can find what an earlier attempt made."""

from __future__ import annotations

import libvirt

from vms.hypervisor.errors import wrap
from vms.hypervisor.storage import find_volume, volume_xml
from vms.hypervisor.uris import safe_uri

GIB = 1024**3


def disk_volume_name(vm_uuid: str, index: int, fmt: str) -> str:
    return f"{vm_uuid}-disk{index}.{fmt}"


def _pool(conn: libvirt.virConnect, pool_name: str) -> libvirt.virStoragePool:
    try:
        # No refresh: the volumes we look for were made through libvirt, which knows them.
        return conn.storagePoolLookupByName(pool_name)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"open storage pool '{pool_name}'", f"host {safe_uri(conn.getURI())}") from exc


def ensure_disk(
    conn: libvirt.virConnect,
    pool_name: str,
    name: str,
    size_gib: int,
    fmt: str,
    base_volume: str | None = None,
    full_copy: bool = False,
    base_format: str = "qcow2",
    base_pool: str | None = None,
) -> str:
    """Create the volume unless it exists; return its path. Sparse always; overlay or copy of a base.

    `base_format` is the base image's declared format (checked at upload): an overlay names it, so that
    QEMU never probes the base (a probe could find a format that names a backing file of its own).
    `base_pool` is where the base image is (images are copied to the default pool), when the disk
    goes to another pool (a template's storage pool); None = the disk's own pool.
    """
    pool = _pool(conn, pool_name)
    source_pool = pool if base_pool in (None, pool_name) else _pool(conn, base_pool)
    where = f"host {safe_uri(conn.getURI())}"
    try:
        vol = find_volume(pool, name)
        if vol is not None:
            return vol.path()
        if base_volume and full_copy:
            base = source_pool.storageVolLookupByName(base_volume)
            capacity = max(size_gib * GIB, base.info()[1])
            vol = pool.createXMLFrom(volume_xml(name, capacity, fmt), base, 0)
        elif base_volume:
            base = source_pool.storageVolLookupByName(base_volume)
            capacity = max(size_gib * GIB, base.info()[1])
            vol = pool.createXML(
                volume_xml(name, capacity, "qcow2", backing_path=base.path(), backing_format=base_format), 0
            )
        else:
            vol = pool.createXML(volume_xml(name, size_gib * GIB, fmt), 0)
        return vol.path()
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"create disk '{name}' in pool '{pool_name}'", where) from exc


def delete_volumes_of(conn: libvirt.virConnect, pool_name: str, vm_uuid: str) -> list[str]:
    """Delete every volume whose name starts with the VM's UUID; return their names."""
    pool = _pool(conn, pool_name)
    removed = []
    try:
        for vol in pool.listAllVolumes(0):
            if vol.name().startswith(f"{vm_uuid}-"):
                vol.delete(0)
                removed.append(vol.name())
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"delete the disks of VM {vm_uuid}", f"host {safe_uri(conn.getURI())}") from exc
    return removed
