"""Point-in-time copies of a running domain's disks: libvirt's backup job, push mode, full. No Django.

QEMU copies each chosen disk to a new file as it was the moment the job began, while the guest keeps
running and writing: a block the guest is about to overwrite is copied first (copy-before-write), so
the copy is of one instant, as after a power cut (crash-consistent: a guest agent could quiesce the
file systems first; the demo guest has none). A qcow2 overlay is read through its base: the copy stands
alone. Used by clones of running VMs (vms/runners/clones.py); backups (issue 16) will use it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import libvirt
from lxml import etree

from vms.hypervisor.errors import HypervisorError, wrap
from vms.hypervisor.uris import safe_uri

POLL_S = 0.2


def backup_xml(disks: list[str], copies: dict[str, tuple[str, str]]) -> str:
    """The <domainbackup> asking for `copies` (target dev -> (file, format)); every other disk of the
    domain (`disks`: all its target devs) is left out explicitly."""
    root = etree.Element("domainbackup", mode="push")
    listed = etree.SubElement(root, "disks")
    for dev in disks:
        if dev in copies:
            path, fmt = copies[dev]
            disk = etree.SubElement(listed, "disk", name=dev, backup="yes", type="file")
            etree.SubElement(disk, "target", file=path)
            etree.SubElement(disk, "driver", type=fmt)
        else:
            etree.SubElement(listed, "disk", name=dev, backup="no")
    return etree.tostring(root, encoding="unicode")


def _disk_targets(dom: libvirt.virDomain) -> list[str]:
    root = etree.fromstring(dom.XMLDesc(0).encode())
    return [t.get("dev") for t in root.iterfind("devices/disk/target") if t.get("dev")]


def copy_running_disks(
    dom: libvirt.virDomain,
    copies: dict[str, tuple[str, str]],
    on_progress: Callable[[float], None] = lambda _f: None,
    should_cancel: Callable[[], bool] = lambda: False,
) -> None:
    """Copy the running domain's disks (`copies`: target dev -> (new file, format)) as of now; blocks
    until QEMU is done. The files are new: the caller refreshes the pool they are in."""
    where = f"host {safe_uri(dom.connect().getURI())}"
    name = dom.name()
    try:
        dom.backupBegin(backup_xml(_disk_targets(dom), copies), None, 0)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"start copying the disks of VM '{name}'", where) from exc
    while True:
        try:
            stats = dom.jobStats(0)
        except libvirt.libvirtError as exc:
            raise wrap(exc, f"follow the copy of VM '{name}'", where) from exc
        if stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
            break
        total = stats.get("disk_total") or 0
        if total:
            on_progress(min((stats.get("disk_processed") or 0) / total, 1.0))
        if should_cancel():
            try:
                dom.abortJob()
            except libvirt.libvirtError:
                pass  # it ended meanwhile
        time.sleep(POLL_S)
    try:
        done = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"read how the copy of VM '{name}' ended", where) from exc
    if not done.get("success", False):
        raise HypervisorError(
            f"copy the disks of VM '{name}'", where, str(done.get("errmsg") or "the copy job did not succeed")
        )
