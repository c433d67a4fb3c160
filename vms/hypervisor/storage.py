"""Storage pools and volumes: ensure a pool, create sparse volumes, upload files by stream."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import libvirt
from lxml import etree

from vms.hypervisor.cleanup import destroy_and_undefine
from vms.hypervisor.errors import HypervisorError, wrap
from vms.hypervisor.uris import safe_uri

UPLOAD_CHUNK = 1024 * 1024


def _uri(conn: libvirt.virConnect) -> str:
    return safe_uri(conn.getURI())


def dir_pool_xml(name: str, path: str) -> str:
    pool = etree.Element("pool", type="dir")
    etree.SubElement(pool, "name").text = name
    target = etree.SubElement(pool, "target")
    etree.SubElement(target, "path").text = path
    return etree.tostring(pool, encoding="unicode")


def ensure_dir_pool(conn: libvirt.virConnect, name: str, path: str) -> libvirt.virStoragePool:
    """Define, build, start and autostart a dir pool; a pool that exists is left as it is."""
    try:
        try:
            pool = conn.storagePoolLookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
                raise
            pool = conn.storagePoolDefineXML(dir_pool_xml(name, path), 0)
            pool.build(0)
        if not pool.isActive():
            pool.create(0)
        pool.setAutostart(1)
        return pool
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"prepare storage pool '{name}'", _uri(conn)) from exc


def volume_xml(
    name: str,
    capacity_bytes: int,
    fmt: str = "raw",
    allocation_bytes: int = 0,
    backing_path: str | None = None,
    backing_format: str | None = None,
) -> str:
    vol = etree.Element("volume")
    etree.SubElement(vol, "name").text = name
    etree.SubElement(vol, "capacity", unit="bytes").text = str(capacity_bytes)
    # Without an explicit 0 allocation libvirt preallocates raw volumes in full.
    etree.SubElement(vol, "allocation", unit="bytes").text = str(allocation_bytes)
    target = etree.SubElement(vol, "target")
    etree.SubElement(target, "format", type=fmt)
    if backing_path:
        backing = etree.SubElement(vol, "backingStore")
        etree.SubElement(backing, "path").text = backing_path
        etree.SubElement(backing, "format", type=backing_format or "qcow2")
    return etree.tostring(vol, encoding="unicode")


def refresh_pool(pool: libvirt.virStoragePool) -> None:
    """Re-read the pool's directory, unless libvirt is busy creating or deleting a volume in it.

    libvirt refuses a refresh while a volume job runs ("pool has asynchronous jobs running"); the
    volumes it is making are known to it anyway, so skipping the refresh then loses nothing.
    """
    try:
        pool.refresh(0)
    except libvirt.libvirtError as exc:
        if "asynchronous jobs" not in (exc.get_error_message() or ""):
            raise


def physical_size(vol: libvirt.virStorageVol) -> int | None:
    """The volume's file length (what a download sends, what an upload wrote), not its virtual size."""
    el = etree.fromstring(vol.XMLDesc(0).encode()).find("physical")
    return int(el.text) if el is not None and el.text else None


def find_volume(pool: libvirt.virStoragePool, name: str) -> libvirt.virStorageVol | None:
    try:
        return pool.storageVolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        raise


def upload_file(
    conn: libvirt.virConnect,
    pool_name: str,
    vol_name: str,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
) -> libvirt.virStorageVol:
    """Copy a local file into a pool volume through a libvirt stream (works on remote hosts)."""
    size = path.stat().st_size
    try:
        pool = conn.storagePoolLookupByName(pool_name)
        refresh_pool(pool)
        vol = find_volume(pool, vol_name)
        if vol is not None and vol.info()[1] != size:
            vol.delete(0)
            vol = None
        if vol is None:
            vol = pool.createXML(volume_xml(vol_name, size, "raw", allocation_bytes=size), 0)
        stream = conn.newStream(0)
        vol.upload(stream, 0, size, 0)
        sent = 0
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(UPLOAD_CHUNK)
                if not chunk:
                    break
                view = memoryview(chunk)
                while view:
                    n = stream.send(view.tobytes())
                    view = view[n:]
                sent += len(chunk)
                if progress:
                    progress(sent, size)
        stream.finish()
        return vol
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"upload '{path.name}' to pool '{pool_name}'", _uri(conn)) from exc
    except OSError as exc:
        raise HypervisorError(f"read '{path}'", "this machine", os.strerror(exc.errno or 0)) from exc


# --- the Storage page's reads and writes ----------------------------------------------------------


def define_dir_pool(conn: libvirt.virConnect, name: str, path: str) -> None:
    """Define a new dir pool, make its directory, start it and start it with the host.

    Unlike ensure_dir_pool a pool of that name must not exist yet (the admin asked for a new one); if
    any step after the define fails, the definition is removed again, so a refusal leaves the host as it was.
    """
    where = f"host {_uri(conn)}"
    try:
        conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
            raise wrap(exc, f"look for storage pool '{name}'", where) from exc
    else:
        raise HypervisorError(f"define storage pool '{name}'", where, f"a pool named '{name}' already exists")
    try:
        pool = conn.storagePoolDefineXML(dir_pool_xml(name, path), 0)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"define storage pool '{name}'", where) from exc
    try:
        pool.build(0)
        pool.create(0)
        pool.setAutostart(1)
    except libvirt.libvirtError as exc:
        error = wrap(exc, f"start storage pool '{name}' at {path}", where)
        destroy_and_undefine(pool)
        raise error from exc


def refresh_named_pool(conn: libvirt.virConnect, name: str) -> None:
    """Re-read one pool's directory (files copied in or removed behind libvirt's back)."""
    try:
        refresh_pool(conn.storagePoolLookupByName(name))
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"refresh storage pool '{name}'", f"host {_uri(conn)}") from exc


def _volume_entry(vol: libvirt.virStorageVol) -> dict:
    _type, capacity, allocation = vol.info()
    fmt = etree.fromstring(vol.XMLDesc(0).encode()).find("target/format")
    return {
        "name": vol.name(),
        "path": vol.path(),
        "capacity": capacity,
        "allocation": allocation,
        "format": fmt.get("type", "") if fmt is not None else "",
    }


def list_volumes(conn: libvirt.virConnect, pool_name: str) -> list[dict]:
    """Every volume of a pool, refreshed first: name, path, capacity and allocation (bytes), format."""
    try:
        pool = conn.storagePoolLookupByName(pool_name)
        if not pool.isActive():
            raise HypervisorError(
                f"list the volumes of storage pool '{pool_name}'", f"host {_uri(conn)}", "the pool is not active"
            )
        refresh_pool(pool)
        return sorted((_volume_entry(vol) for vol in pool.listAllVolumes(0)), key=lambda v: v["name"])
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"list the volumes of storage pool '{pool_name}'", f"host {_uri(conn)}") from exc


def delete_volume(conn: libvirt.virConnect, pool_name: str, vol_name: str) -> None:
    try:
        conn.storagePoolLookupByName(pool_name).storageVolLookupByName(vol_name).delete(0)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"delete volume '{vol_name}' in storage pool '{pool_name}'", f"host {_uri(conn)}") from exc
