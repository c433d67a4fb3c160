"""Internal snapshots of a domain: take, list, revert, delete. No Django.

Internal snapshots live inside the VM's qcow2 volumes (QEMU's `savevm` for a running domain, with
its memory; `qemu-img snapshot` for a stopped one, disks only), so they need no extra files and go
away with the volumes when the VM is deleted. A writable disk that is not qcow2 (raw) cannot hold
one: `blocking_disks` finds those in the domain XML so we can say why before asking the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import libvirt
from lxml import etree

from vms.hypervisor.errors import wrap
from vms.hypervisor.uris import safe_uri


class SnapshotsUnsupported(ValueError):
    """The domain has writable disks that cannot hold an internal snapshot (raw)."""

    def __init__(self, disks: list[tuple[str, str]]) -> None:
        self.disks = disks
        listed = ", ".join(f"{target} ({fmt or 'unknown format'})" for target, fmt in disks)
        super().__init__(
            f"This VM cannot take snapshots: its disk {listed} is not qcow2, and only qcow2 disks hold "
            "internal snapshots. The template must use qcow2 disks (disk format qcow2) for new VMs."
        )


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    description: str
    parent: str  # "" for a root
    state: str  # the domain's state in the snapshot: running, paused, shutoff
    with_memory: bool
    current: bool
    created_at: datetime


def _is_writable(disk: etree._Element) -> bool:
    """A disk the guest writes to (not a CD-ROM, not read-only, not an empty drive)."""
    if disk.get("device", "disk") != "disk" or disk.find("readonly") is not None:
        return False
    return disk.find("source") is not None


def _writable_disks(root: etree._Element) -> list[etree._Element]:
    return [disk for disk in root.iterfind("devices/disk") if _is_writable(disk)]


def blocking_disks(domain_xml: str) -> list[tuple[str, str]]:
    """(target, format) of each writable disk that cannot hold an internal snapshot."""
    root = etree.fromstring(domain_xml.encode() if isinstance(domain_xml, str) else domain_xml)
    blockers = []
    for disk in _writable_disks(root):
        driver = disk.find("driver")
        fmt = driver.get("type", "") if driver is not None else ""
        if fmt != "qcow2":
            target = disk.find("target")
            blockers.append((target.get("dev", "?") if target is not None else "?", fmt))
    return blockers


def check_supported(domain_xml: str) -> None:
    """Raise SnapshotsUnsupported when a writable disk of the domain is not qcow2."""
    blockers = blocking_disks(domain_xml)
    if blockers:
        raise SnapshotsUnsupported(blockers)


def snapshot_xml(domain_xml: str, name: str, description: str) -> str:
    """The <domainsnapshot> asking for an internal snapshot of each writable disk.

    Read-only and CD-ROM drives are left out explicitly (snapshot='no'): libvirt accepts that for an
    internal snapshot, and it keeps a seed ISO from refusing the whole snapshot.
    """
    root = etree.fromstring(domain_xml.encode() if isinstance(domain_xml, str) else domain_xml)
    snap = etree.Element("domainsnapshot")
    etree.SubElement(snap, "name").text = name
    if description:
        etree.SubElement(snap, "description").text = description
    disks = etree.SubElement(snap, "disks")
    for disk in root.iterfind("devices/disk"):
        target = disk.find("target")
        if target is None or not target.get("dev"):
            continue
        kind = "internal" if _is_writable(disk) else "no"
        etree.SubElement(disks, "disk", name=target.get("dev"), snapshot=kind)
    return etree.tostring(snap, encoding="unicode")


def _where(dom: libvirt.virDomain) -> str:
    return f"host {safe_uri(dom.connect().getURI())}"


def create(dom: libvirt.virDomain, name: str, description: str = "") -> None:
    """Take an internal snapshot: with memory when the domain runs, disks only when it is stopped."""
    xml = dom.XMLDesc(0)
    check_supported(xml)
    try:
        # Flags 0: a full system checkpoint (memory and disks) of an active domain, a disk snapshot
        # of an inactive one; both internal, as the <disks> ask.
        dom.snapshotCreateXML(snapshot_xml(xml, name, description), 0)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"take snapshot '{name}' of VM '{dom.name()}'", _where(dom)) from exc


def _info(snap: libvirt.virDomainSnapshot) -> SnapshotInfo:
    root = etree.fromstring(snap.getXMLDesc(0).encode())
    memory = root.find("memory")
    state = root.findtext("state") or ""
    return SnapshotInfo(
        name=root.findtext("name") or snap.getName(),
        description=root.findtext("description") or "",
        parent=root.findtext("parent/name") or "",
        state=state,
        with_memory=(memory.get("snapshot") == "internal") if memory is not None else state in ("running", "paused"),
        current=bool(snap.isCurrent()),
        created_at=datetime.fromtimestamp(int(root.findtext("creationTime") or 0), UTC),
    )


def list_all(dom: libvirt.virDomain) -> list[SnapshotInfo]:
    """Every snapshot of the domain, oldest first."""
    try:
        snaps = [_info(s) for s in dom.listAllSnapshots(0)]
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"list the snapshots of VM '{dom.name()}'", _where(dom)) from exc
    return sorted(snaps, key=lambda s: (s.created_at, s.name))


def _lookup(dom: libvirt.virDomain, name: str, action: str) -> libvirt.virDomainSnapshot:
    try:
        return dom.snapshotLookupByName(name, 0)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"{action} snapshot '{name}' of VM '{dom.name()}'", _where(dom)) from exc


# A snapshot taken while running comes back running (paused: paused), whatever the domain is now;
# a disk-only one comes back stopped (libvirt stops a running domain itself then).
REVERT_FLAGS = {
    "running": libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING,
    "paused": libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED,
}


def revert(dom: libvirt.virDomain, name: str) -> str:
    """Revert the domain to the snapshot; returns the snapshot's state (running, paused, shutoff)."""
    snap = _lookup(dom, name, "revert to")
    state = _info(snap).state
    try:
        dom.revertToSnapshot(snap, REVERT_FLAGS.get(state, 0))
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"revert VM '{dom.name()}' to snapshot '{name}'", _where(dom)) from exc
    return state


def delete(dom: libvirt.virDomain, name: str, children: bool = False) -> None:
    """Delete the snapshot (its children are re-parented), or with `children` the whole subtree."""
    snap = _lookup(dom, name, "delete")
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if children else 0
    try:
        snap.delete(flags)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"delete snapshot '{name}' of VM '{dom.name()}'", _where(dom)) from exc


__all__ = [
    "SnapshotInfo",
    "SnapshotsUnsupported",
    "blocking_disks",
    "check_supported",
    "create",
    "delete",
    "list_all",
    "revert",
    "snapshot_xml",
]
