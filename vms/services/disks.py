"""Disks and media of a VM: the rules (sizes, buses, quota, which disks and ISOs), then a change job.

Each function checks its input first (a ValidationError changes nothing), then asks for the change
through vms.services.changes.request_change; the quota of a growing disk is checked, and the new
GiB counted into `VirtualMachine.disk_gib`, inside the transaction that queues the job (`prepare`),
so parallel requests cannot both fit. A failed job gives the GiB back (`release_disk_gib`).

- The system disk (the VM's first disk, `<uuid>-disk0`) is not detached: the VM boots from it, and
  it is what the VM was requested with; deleting the VM is how it goes.
- Only a volume named from the VM's UUID is ever deleted: a disk the template pointed at something
  else (a shared file) can be detached, never deleted.
- A detached volume kept by the owner's choice still takes room on the host, so it still counts in
  `disk_gib` and is listed in `VirtualMachine.detached_volumes`; the VM's delete removes it.
- Sizes: the disk jobs record each disk's size in the domain's metadata (vms.domainxml.disks), which
  the database's copy of the XML carries; a VM no disk job has touched yet has one disk whose size
  is `disk_gib`.
"""

from __future__ import annotations

import os

from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils.translation import gettext as _

from jobs.models import Job
from vms import extensions
from vms.choices import CopyState, ImageKind, VMChange
from vms.domainxml.disks import DATA_DISK_BUSES, cdrom_of, disks_of, find_disk
from vms.domainxml.errors import DomainXMLError
from vms.models import Image, ImageCopy, VirtualMachine
from vms.services.changes import request_change

BUS_LABELS = {"virtio": "virtio", "scsi": "SCSI", "sata": "SATA"}


# --- reading (pages and API) ----------------------------------------------------------------------


def _xml_rows(vm: VirtualMachine) -> list[dict]:
    if not vm.domain_xml:
        return []
    try:
        return disks_of(vm.domain_xml)
    except DomainXMLError:
        return []


def disk_rows(vm: VirtualMachine) -> list[dict]:
    """Every disk and drive of the VM: {target, bus, device, size_gib, format, volume}, sizes filled in."""
    rows = _xml_rows(vm)
    disks = [r for r in rows if r["device"] == "disk"]
    unknown = [r for r in disks if r["size_gib"] is None]
    if len(unknown) == 1 and unknown[0] is disks[0]:
        # Never touched by a disk job: the system disk is what the VM was made with.
        kept = sum(v.get("size_gib", 0) for v in vm.detached_volumes or [])
        known = sum(r["size_gib"] for r in disks if r["size_gib"] is not None)
        unknown[0]["size_gib"] = max(vm.disk_gib - known - kept, 0) or None
    return rows


def data_disks(vm: VirtualMachine) -> list[dict]:
    return [r for r in disk_rows(vm) if r["device"] == "disk"]


def system_target(vm: VirtualMachine) -> str | None:
    disks = data_disks(vm)
    return disks[0]["target"] if disks else None


def _copy_volume_of(source: str | None) -> str | None:
    if not source:
        return None
    return source.split("/")[-1]


def _cdrom_drive(vm: VirtualMachine) -> dict | None:
    if not vm.domain_xml:
        return None
    try:
        return cdrom_of(vm.domain_xml)
    except DomainXMLError:
        return None


def isos_in_drives(vms) -> dict[str, Image]:
    """The ISO images in the CD-ROM drives of many VMs (a page of a list), in one query: {volume: image}."""
    volumes = {_copy_volume_of(drive["source"]) for drive in map(_cdrom_drive, vms) if drive}
    volumes.discard(None)
    return {image.volume: image for image in Image.objects.filter(kind=ImageKind.ISO, volume__in=volumes)}


def cdrom_info(vm: VirtualMachine, isos: dict[str, Image] | None = None) -> dict | None:
    """The VM's CD-ROM drive: {target, bus, source, image (id or None), image_name}; None without a drive.
    `isos`: the images already read for a list (isos_in_drives), else the one in the drive is read here."""
    drive = _cdrom_drive(vm)
    if drive is None:
        return None
    volume = _copy_volume_of(drive["source"])
    if isos is None:
        isos = isos_in_drives([vm]) if volume else {}
    image = isos.get(volume) if volume else None
    return {**drive, "image": image.pk if image else None, "image_name": image.name if image else volume}


def api_cdrom(vm: VirtualMachine, isos: dict[str, Image] | None = None) -> dict | None:
    info = cdrom_info(vm, isos)
    return None if info is None else {"target": info["target"], "image": info["image"]}


def insertable_isos(user):
    """The ISOs `user` may put in a drive: published ones; admins see every ISO."""
    isos = Image.objects.filter(kind=ImageKind.ISO)
    return isos if getattr(user, "is_staff", False) else isos.filter(published=True)


# --- checking input -------------------------------------------------------------------------------


def whole_gib(value, field: str = "size_gib") -> int:
    """A whole number of GiB from a form or JSON (no booleans, fractions or words)."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ValidationError({field: _("Give the size as a whole number of GiB.")})
    return value


def _check_size(vm: VirtualMachine, size: int, field: str = "size_gib") -> None:
    limit = vm.template.max_disk_gib if vm.template else None
    if size < 1:
        raise ValidationError({field: _("A disk is at least 1 GiB.")})
    if limit is not None and size > limit:
        raise ValidationError({field: _("The template allows disks of at most %(max)d GiB.") % {"max": limit}})


def _reserve(gib: int):
    """prepare(): the owner's quota must hold `gib` more; count them into the VM's disk_gib."""

    def prepare(locked: VirtualMachine) -> None:
        if extensions.check_growth is not None:
            extensions.check_growth(locked.owner, disk_gib=gib)
        VirtualMachine.objects.filter(pk=locked.pk).update(disk_gib=F("disk_gib") + gib)

    return prepare


def release_disk_gib(vm: VirtualMachine, gib: int) -> None:
    """Give back GiB counted for a disk that was not made, grown, or was deleted."""
    if gib > 0:
        VirtualMachine.objects.filter(pk=vm.pk, disk_gib__gte=gib).update(disk_gib=F("disk_gib") - gib)


def _disk(vm: VirtualMachine, target) -> dict:
    target = str(target or "")
    row = next((r for r in disk_rows(vm) if r["target"] == target), None)
    if row is None:
        raise ValidationError({"target": _("VM '%(vm)s' has no disk %(target)s.") % {"vm": vm.name, "target": target}})
    if row["device"] != "disk":
        raise ValidationError(
            {"target": _("%(target)s is a CD-ROM drive: eject its ISO instead.") % {"target": target}}
        )
    return row


def is_own_volume(vm: VirtualMachine, path: str) -> bool:
    """A volume this VM made (named from its UUID): the only kind a detach may delete."""
    return os.path.basename(path or "").startswith(f"{vm.uuid}-")


# --- changes --------------------------------------------------------------------------------------


def add_disk(user, vm: VirtualMachine, size_gib, bus) -> Job:
    size = whole_gib(size_gib)
    _check_size(vm, size)
    if bus not in DATA_DISK_BUSES:
        raise ValidationError(
            {"bus": _("Choose one of these buses: %(buses)s.") % {"buses": ", ".join(DATA_DISK_BUSES)}}
        )
    params = {"size_gib": size, "bus": bus}
    return request_change(user, vm, VMChange.DISK_ADD, params, prepare=_reserve(size))


def detach_disk(user, vm: VirtualMachine, target, delete_volume: bool) -> Job:
    row = _disk(vm, target)
    if row["target"] == system_target(vm):
        raise ValidationError(
            {"target": _("%(target)s is the system disk the VM boots from; delete the VM instead.") % row}
        )
    if delete_volume and not is_own_volume(vm, row["volume"]):
        raise ValidationError(
            {
                "delete_volume": _(
                    "The volume of %(target)s (%(volume)s) is not this VM's own; it can be detached and kept, "
                    "not deleted."
                )
                % row
            }
        )
    params = {"target": row["target"], "delete_volume": bool(delete_volume), "size_gib": row["size_gib"] or 0}
    return request_change(user, vm, VMChange.DISK_DETACH, params)


def resize_disk(user, vm: VirtualMachine, target, size_gib) -> Job:
    row = _disk(vm, target)
    size = whole_gib(size_gib)
    _check_size(vm, size)
    now = row["size_gib"]
    if now is not None and size <= now:
        raise ValidationError(
            {
                "size_gib": _("Disk %(target)s has %(now)d GiB; a disk only grows, so give more than that.")
                % {"target": row["target"], "now": now}
            }
        )
    growth = size - now if now is not None else 0
    params = {"target": row["target"], "size_gib": size, "from_gib": now, "reserved_gib": growth}
    return request_change(user, vm, VMChange.DISK_RESIZE, params, prepare=_reserve(growth))


def _iso(user, image) -> Image:
    try:
        pk = int(image)
    except (TypeError, ValueError):
        pk = None
    iso = insertable_isos(user).filter(pk=pk).first() if pk is not None and not isinstance(image, bool) else None
    if iso is None:
        raise ValidationError({"image": _("Choose an ISO from the image library that is published to users.")})
    return iso


def insert_iso(user, vm: VirtualMachine, image) -> Job:
    iso = _iso(user, image)
    if cdrom_info(vm) is None:
        raise ValidationError({"image": _("This VM has no CD-ROM drive; stop it and add one first.")})
    if not iso.file:
        raise ValidationError(
            {"image": _("The ISO '%(name)s' has no file on the dashboard server.") % {"name": iso.name}}
        )
    copied = ImageCopy.objects.filter(image=iso, host=vm.host_id, state=CopyState.READY).exists()
    params = {"image": iso.pk, "copy_first": not copied}
    return request_change(user, vm, VMChange.CDROM_INSERT, params, audit={"image": iso.name})


def eject_iso(user, vm: VirtualMachine) -> Job:
    drive = cdrom_info(vm)
    if drive is None:
        raise ValidationError({"cdrom": _("This VM has no CD-ROM drive.")})
    if not drive["source"]:
        raise ValidationError({"cdrom": _("The CD-ROM drive is already empty.")})
    return request_change(user, vm, VMChange.CDROM_EJECT, {"target": drive["target"]})


def add_cdrom(user, vm: VirtualMachine) -> Job:
    if cdrom_info(vm) is not None:
        raise ValidationError({"cdrom": _("This VM already has a CD-ROM drive.")})
    return request_change(user, vm, VMChange.CDROM_ADD, {})


# --- what the jobs record -------------------------------------------------------------------------


def record_kept_volume(vm: VirtualMachine, entry: dict) -> None:
    """A detached volume the owner kept: listed on the VM (and removed with it)."""
    fresh = VirtualMachine.objects.get(pk=vm.pk)
    kept = [v for v in fresh.detached_volumes or [] if v.get("path") != entry.get("path")]
    VirtualMachine.objects.filter(pk=vm.pk).update(detached_volumes=[*kept, entry])


def disk_exists(vm: VirtualMachine, target: str) -> bool:
    return bool(vm.domain_xml) and find_disk(vm.domain_xml, target) is not None
