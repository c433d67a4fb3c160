"""The disk and media jobs: add, detach and grow a disk; insert, eject an ISO; add a CD-ROM drive.

Each is a ChangeRunner (vms/runners/changes.py): the base finds the domain and afterwards keeps the
database's copy of its XML. A libvirt refusal leaves the VM as it was: a volume made for a disk that
could not be attached is removed again, and the GiB counted for it are given back.
"""

from __future__ import annotations

from django.db.models import F
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from jobs.errors import JobFailed, RetryRefused
from jobs.registry import register
from vms.choices import CopyState, VMChange
from vms.domainxml.disks import (
    cdrom_bus_for,
    cdrom_of,
    device_xml_of,
    find_disk,
    free_target,
    new_cdrom_xml,
    new_disk_xml,
    with_media,
)
from vms.hypervisor import disks as hv
from vms.hypervisor import domains
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.volumes import GIB
from vms.models import Image, ImageCopy, VirtualMachine
from vms.runners.changes import ChangeRunner
from vms.runners.images import POOL as IMAGE_POOL
from vms.runners.images import copy_to_host, remove_partial_copy
from vms.runners.vm import load_vm
from vms.services.disks import record_kept_volume, release_disk_gib
from vms.services.placement import pool_of


class DiskRunner(ChangeRunner):
    def check_retry(self, job, user) -> None:
        # A disk change is checked anew (sizes, quota, the VM's disks now): ask for it again instead.
        raise RetryRefused(_t("Ask for this change again from the VM's Disks and media tab."))


def _record_sizes(ctx, conn, dom) -> None:  # noqa: ANN001
    try:
        hv.record_sizes(conn, dom)
    except HypervisorError as exc:
        ctx.log(_t("The disk sizes could not be recorded: %(why)s") % {"why": exc}, level="warning")


def _both_xml(dom) -> list[str]:  # noqa: ANN001
    """The saved config and, when running, the live XML: a new target must be free in both."""
    found = [domains.saved_xml(dom)]
    if dom.isActive():
        found.append(hv.live_xml(dom))
    return found


def _target_for(dom, bus: str) -> str:  # noqa: ANN001
    targets = {free_target(xml, bus) for xml in _both_xml(dom)}
    return max(targets)  # the later letter is free in both


@register(f"vm.{VMChange.DISK_ADD}")
class AddDisk(DiskRunner):
    label = _("Add a disk")
    steps = [("volume", _("Create the volume")), ("attach", _("Attach the disk"))]

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:
        size, bus = int(ctx.params["size_gib"]), ctx.params["bus"]
        pool = pool_of(vm.template)
        fmt = vm.template.disk_format if vm.template else "qcow2"
        with ctx.step("volume"):
            name = hv.new_volume_name(conn, pool, str(vm.uuid), fmt)
            path = hv.create_volume(conn, pool, name, size, fmt)
            ctx.log(
                _t("Volume %(name)s (%(size)d GiB) made in pool %(pool)s.") % {"name": name, "size": size, "pool": pool}
            )
        with ctx.step("attach"):
            try:
                target = _target_for(dom, bus)
                hv.attach(dom, new_disk_xml(path, target, bus, fmt), f"disk {target} ({bus})")
            except Exception:
                # Not attached: the volume goes again, so nothing is left half-made.
                try:
                    hv.delete_volume_at(conn, path)
                except HypervisorError:
                    ctx.log(_t("The new volume %(name)s could not be removed.") % {"name": name}, level="warning")
                raise
            live = _t(" (live)") if dom.isActive() else ""
            ctx.log(_t("Disk %(target)s attached%(live)s.") % {"target": target, "live": live})
            _record_sizes(ctx, conn, dom)

    def on_failure(self, ctx) -> None:
        release_disk_gib(load_vm(ctx.job), int(ctx.params.get("size_gib") or 0))


def _disk_or_fail(dom, vm: VirtualMachine, target: str):  # noqa: ANN001
    xml = domains.saved_xml(dom)
    disk = find_disk(xml, target)
    if disk is None:
        raise JobFailed(_t("VM '%(vm)s' has no disk %(target)s on its host.") % {"vm": vm.name, "target": target})
    return xml, disk


@register(f"vm.{VMChange.DISK_DETACH}")
class DetachDisk(DiskRunner):
    label = _("Detach a disk")
    steps = [("detach", _("Detach the disk")), ("volume", _("Delete or keep the volume"))]

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:
        target = ctx.params["target"]
        xml, disk = _disk_or_fail(dom, vm, target)
        path = disk.local_path or ""
        with ctx.step("detach"):
            hv.detach(dom, device_xml_of(xml, target), target)
            ctx.log(_t("Disk %(target)s detached.") % {"target": target})
        with ctx.step("volume"):
            size = int(ctx.params.get("size_gib") or 0)
            if ctx.params.get("delete_volume"):
                if path and hv.delete_volume_at(conn, path):
                    ctx.log(_t("Volume %(path)s deleted.") % {"path": path})
                release_disk_gib(vm, size)
            else:
                vol = hv.volume_of(conn, path) if path else None
                pool = vol.storagePoolLookupByVolume().name() if vol is not None else ""
                record_kept_volume(
                    vm, {"pool": pool, "name": vol.name() if vol else path, "path": path, "size_gib": size}
                )
                ctx.log(_t("Volume %(path)s kept; it is deleted with the VM.") % {"path": path})
            _record_sizes(ctx, conn, dom)


@register(f"vm.{VMChange.DISK_RESIZE}")
class GrowDisk(DiskRunner):
    label = _("Grow a disk")
    steps = [("grow", _("Grow the disk"))]

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:
        target, size = ctx.params["target"], int(ctx.params["size_gib"])
        _xml, disk = _disk_or_fail(dom, vm, target)
        with ctx.step("grow"):
            now = hv.capacity_bytes(conn, dom, target, disk.local_path or "")
            if now is not None and size * GIB <= now:
                raise JobFailed(
                    _t("Disk %(target)s already has %(now).1f GiB; a disk only grows.")
                    % {"target": target, "now": now / GIB}
                )
            hv.grow(conn, dom, target, disk.local_path or "", size)
            ctx.log(
                _t("Disk %(target)s grown to %(size)d GiB%(live)s.")
                % {
                    "target": target,
                    "size": size,
                    "live": _t(" (live)") if dom.isActive() else "",
                }
            )
            if ctx.params.get("from_gib") is None and now is not None:
                # The size was not known when asked: count the growth now.
                grown = size - (-(-now // GIB))
                VirtualMachine.objects.filter(pk=vm.pk).update(disk_gib=F("disk_gib") + max(grown, 0))
            _record_sizes(ctx, conn, dom)

    def on_failure(self, ctx) -> None:
        release_disk_gib(load_vm(ctx.job), int(ctx.params.get("reserved_gib") or 0))


def _drive_or_fail(dom, vm: VirtualMachine):  # noqa: ANN001
    xml = domains.saved_xml(dom)
    drive = cdrom_of(xml)
    if drive is None:
        raise JobFailed(_t("VM '%(vm)s' has no CD-ROM drive on its host.") % {"vm": vm.name})
    return xml, drive


@register(f"vm.{VMChange.CDROM_INSERT}")
class InsertISO(DiskRunner):
    label = _("Insert an ISO")
    steps = [
        ("upload", _("Copy the ISO to the host")),
        ("check", _("Check the copy")),
        ("insert", _("Insert the ISO")),
    ]

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:
        image = Image.objects.filter(pk=ctx.params["image"]).first()
        if image is None:
            raise JobFailed(_t("The ISO of this job was deleted from the image library."))
        xml, drive = _drive_or_fail(dom, vm)
        copy, _created = ImageCopy.objects.get_or_create(image=image, host=vm.host, defaults={"volume": image.volume})
        volume = hv.pool_volume(conn, IMAGE_POOL, copy.volume) if copy.state == CopyState.READY else None
        if volume is None:
            if copy.state == CopyState.COPYING and copy.job_id and copy.job_id != ctx.job.pk:
                raise JobFailed(
                    _t("The ISO is being copied to %(host)s by job #%(job)d; insert it when that is done.")
                    % {"host": vm.host.name, "job": copy.job_id}
                )
            ctx.log(
                _t("ISO '%(name)s' is not on %(host)s yet: copying it first.")
                % {"name": image.name, "host": vm.host.name}
            )
            copy_to_host(ctx, copy)
            volume = hv.pool_volume(conn, IMAGE_POOL, copy.volume)
        else:
            ctx.skip("upload", _("The ISO is on the host already."))
            ctx.skip("check", _("The ISO is on the host already."))
        with ctx.step("insert"):
            if volume is None:
                raise JobFailed(
                    _t("The ISO's volume %(vol)s is missing on %(host)s.") % {"vol": copy.volume, "host": vm.host.name}
                )
            hv.change_media(dom, with_media(device_xml_of(xml, drive["target"]), volume.path()), drive["target"], True)
            ctx.log(_t("ISO '%(name)s' is in drive %(target)s.") % {"name": image.name, "target": drive["target"]})

    def on_failure(self, ctx) -> None:
        copy = ImageCopy.objects.select_related("image", "host").filter(job=ctx.job.pk).first()
        if copy is not None and copy.state != CopyState.READY:
            remove_partial_copy(ctx, copy)


@register(f"vm.{VMChange.CDROM_EJECT}")
class EjectISO(DiskRunner):
    label = _("Eject the ISO")
    steps = [("eject", _("Eject the ISO"))]

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:
        xml, drive = _drive_or_fail(dom, vm)
        with ctx.step("eject"):
            hv.change_media(dom, with_media(device_xml_of(xml, drive["target"]), None), drive["target"], False)
            ctx.log(_t("Drive %(target)s is empty.") % {"target": drive["target"]})


@register(f"vm.{VMChange.CDROM_ADD}")
class AddCDROM(DiskRunner):
    label = _("Add a CD-ROM drive")
    steps = [("attach", _("Add the drive"))]

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:
        with ctx.step("attach"):
            xml = domains.saved_xml(dom)
            if cdrom_of(xml) is not None:
                ctx.log(_t("The VM has a CD-ROM drive already."))
                return
            bus = cdrom_bus_for(xml)
            target = _target_for(dom, bus)
            hv.attach(dom, new_cdrom_xml(target, bus), f"a CD-ROM drive {target} ({bus})")
            ctx.log(_t("CD-ROM drive %(target)s (%(bus)s) added.") % {"target": target, "bus": bus})
