"""A VM's volumes: named from its UUID, so every step can find what an earlier attempt made."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import libvirt
from lxml import etree

from vms.hypervisor.errors import HypervisorError, wrap
from vms.hypervisor.storage import find_volume, physical_size, refresh_pool, volume_xml
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


# --- copies of a VM's disks (clones) ----------------------------------------------------------------
STREAM_CHUNK = 4 * 1024 * 1024


def _volume_at(conn: libvirt.virConnect, path: str) -> libvirt.virStorageVol:
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"find the volume '{path}'", f"host {safe_uri(conn.getURI())}") from exc


def find_volume_at(conn: libvirt.virConnect, path: str) -> libvirt.virStorageVol | None:
    """The volume at `path` on the host, or None when no pool of the host holds one there."""
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        raise wrap(exc, f"look for the volume '{path}'", f"host {safe_uri(conn.getURI())}") from exc


def delete_volume_at(conn: libvirt.virConnect, path: str) -> bool:
    """Delete the volume at `path` if there is one; whether there was."""
    vol = find_volume_at(conn, path)
    if vol is None:
        return False
    try:
        vol.delete(0)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"delete the volume '{path}'", f"host {safe_uri(conn.getURI())}") from exc
    return True


def pool_path(conn: libvirt.virConnect, pool_name: str) -> str:
    """The directory of a dir pool on the host: where a volume moved into it lands."""
    pool = _pool(conn, pool_name)
    try:
        root = etree.fromstring(pool.XMLDesc(0).encode())
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"read storage pool '{pool_name}'", f"host {safe_uri(conn.getURI())}") from exc
    path = root.findtext("target/path")
    if not path:
        raise HypervisorError(f"find the directory of storage pool '{pool_name}'", f"host {safe_uri(conn.getURI())}")
    return path.rstrip("/")


def pool_name_of(conn: libvirt.virConnect, path: str) -> str:
    """The name of the storage pool that holds the volume at `path`."""
    try:
        return _volume_at(conn, path).storagePoolLookupByVolume().name()
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"find the pool of '{path}'", f"host {safe_uri(conn.getURI())}") from exc


def copy_volume(conn: libvirt.virConnect, source_path: str, pool_name: str, name: str, fmt: str) -> str:
    """A full copy of the volume at `source_path` as `name` in `pool_name` of the same host; its path.

    libvirt copies with qemu-img convert, which reads a qcow2 overlay through its base: the copy stands
    alone. A volume of that name left by an earlier attempt may be half-written, so it is made anew."""
    source = _volume_at(conn, source_path)
    pool = _pool(conn, pool_name)
    try:
        old = find_volume(pool, name)
        if old is not None:
            old.delete(0)
        copy = pool.createXMLFrom(volume_xml(name, source.info()[1], fmt), source, 0)
        return copy.path()
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"copy '{source_path}' to '{name}'", f"host {safe_uri(conn.getURI())}") from exc


def _abort(*streams: libvirt.virStream | None) -> None:
    """Let go of streams a failure left open (the failure itself says what went wrong)."""
    for stream in streams:
        if stream is not None:
            try:
                stream.abort()
            except libvirt.libvirtError:
                pass  # already broken


def send_volume(
    source_conn: libvirt.virConnect,
    source_path: str,
    target_conn: libvirt.virConnect,
    pool_name: str,
    name: str,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Stream the volume at `source_path` to `pool_name` on another host as `name`; its path there.

    The bytes travel through the two libvirt connections (no shared storage, no SSH between hosts);
    the target's pool is refreshed afterwards so that libvirt knows the copy's format and size."""
    source = _volume_at(source_conn, source_path)
    length = physical_size(source) or source.info()[1]
    pool = _pool(target_conn, pool_name)
    target_where = f"host {safe_uri(target_conn.getURI())}"
    down = up = None
    try:
        old = find_volume(pool, name)
        if old is not None:
            old.delete(0)
        target = pool.createXML(volume_xml(name, length, "raw", allocation_bytes=length), 0)
        down = source_conn.newStream(0)
        source.download(down, 0, length, 0)
        up = target_conn.newStream(0)
        target.upload(up, 0, length, 0)
        sent = 0
        while sent < length:
            chunk = down.recv(min(STREAM_CHUNK, length - sent))
            if not chunk:
                break
            view = memoryview(chunk)
            while view:
                view = view[up.send(view.tobytes()) :]
            sent += len(chunk)
            if progress:
                progress(sent, length)
        down.finish()
        up.finish()
        down = up = None
        refresh_pool(pool)
        return target.path()
    except libvirt.libvirtError as exc:
        _abort(down, up)
        raise wrap(exc, f"copy '{source_path}' to '{name}'", target_where) from exc


def download_volume(
    conn: libvirt.virConnect, path: str, dest: Path, progress: Callable[[int, int], None] | None = None
) -> str:
    """Stream the volume at `path` on the host into the new file `dest` on this machine; its SHA-256."""
    vol = _volume_at(conn, path)
    length = physical_size(vol) or vol.info()[1]
    digest = hashlib.sha256()
    where = f"host {safe_uri(conn.getURI())}"
    stream = None
    try:
        stream = conn.newStream(0)
        vol.download(stream, 0, length, 0)
        done = 0
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "wb") as out:
            while done < length:
                chunk = stream.recv(min(STREAM_CHUNK, length - done))
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, length)
        stream.finish()
        return digest.hexdigest()
    except libvirt.libvirtError as exc:
        _abort(stream)
        raise wrap(exc, f"download '{path}'", where) from exc
    except OSError as exc:
        _abort(stream)
        raise HypervisorError(f"write '{dest}'", "this machine", os.strerror(exc.errno or 0)) from exc
