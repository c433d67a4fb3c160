"""Base images and ISOs: checked once at upload, kept under VAR_DIR/images, copied to hosts by jobs.

A file is refused at upload when it is not what it claims to be: a qcow2 must have the qcow2 header
and neither a backing file nor an external data file (either would make the host open a file the
uploader chose); an ISO must carry the ISO 9660 signature; a raw image must be whole 512-byte sectors.
The headers are read here in Python first; then `qemu-img info` (time- and memory-limited, never
following a backing file) must agree: a "raw" upload that QEMU would take for QED, VMDK or VHD (formats
that can name a backing file such as /etc/shadow: the CVE-2024-32498 class) is refused, as is any
backing file, external data file or encryption it reports. Volumes and disks then always carry the
declared format, so nothing downstream probes.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from audit import log as audit_log
from jobs.errors import JobConflict, TargetBusy
from jobs.models import Job
from jobs.services import enqueue
from jobs.targets import target_for
from vms.models import CopyState, Host, Image, ImageCopy, ImageFormat, ImageKind

COPY_JOB = "image.copy"
QCOW2_MAGIC = b"QFI\xfb"
ISO_MAGIC_OFFSET = 0x8001
ISO_MAGIC = b"CD001"
QCOW2_EXT_END = 0x00000000
QCOW2_EXT_DATA_FILE = 0x44415441
QCOW2_INCOMPAT_DATA_FILE = 1 << 2
SECTOR = 512
# qemu-img on an uploaded file: bounded in time, CPU and memory (a crafted header must not hang or
# exhaust the web process's machine).
QEMU_IMG_TIMEOUT_S = 30
QEMU_IMG_LIMITS = ("--cpu=20", "--as=1073741824")
# What qemu-img may call a file we serve, per declared format (an ISO is raw to QEMU).
QEMU_FORMATS = {ImageFormat.RAW: "raw", ImageFormat.QCOW2: "qcow2", ImageFormat.ISO: "raw"}
EXTENSIONS = {ImageFormat.RAW: "img", ImageFormat.QCOW2: "qcow2", ImageFormat.ISO: "iso"}
KIND_FORMATS = {ImageKind.BASE: (ImageFormat.RAW, ImageFormat.QCOW2), ImageKind.ISO: (ImageFormat.ISO,)}


def images_dir() -> Path:
    path = Path(settings.VAR_DIR) / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Inspection:
    format: str
    size: int
    virtual_size: int


def _refuse(message: str) -> ValidationError:
    return ValidationError({"file": message})


def _qcow2_problems(header: bytes) -> tuple[int, list[str]]:
    """(virtual size, reasons to refuse) from a qcow2 header (the first cluster of the file)."""
    if len(header) < 72:
        return 0, [_("The file is too short to be a qcow2 image.")]
    version, backing_offset, backing_size, _cluster_bits, size, crypt = struct.unpack(">IQIIQI", header[4:36])
    problems = []
    if version not in (2, 3):
        problems.append(_("qcow2 version %(v)d is not supported (only versions 2 and 3).") % {"v": version})
    if backing_offset or backing_size:
        problems.append(
            _(
                "This qcow2 image has a backing file. Upload a standalone image: run "
                "'qemu-img convert -O qcow2 image.qcow2 standalone.qcow2' first."
            )
        )
    if crypt:
        problems.append(_("This qcow2 image is encrypted; upload an unencrypted image."))
    ext_start = 72
    if version == 3 and len(header) >= 104:
        incompatible = struct.unpack(">Q", header[72:80])[0]
        if incompatible & QCOW2_INCOMPAT_DATA_FILE:
            problems.append(_("This qcow2 image keeps its data in an external data file; upload a standalone image."))
        ext_start = struct.unpack(">I", header[100:104])[0]
    # Header extensions: (type u32, length u32, data padded to 8 bytes) until type 0.
    pos = ext_start
    while pos + 8 <= len(header):
        ext_type, ext_len = struct.unpack(">II", header[pos : pos + 8])
        if ext_type == QCOW2_EXT_END:
            break
        if ext_type == QCOW2_EXT_DATA_FILE:
            problems.append(_("This qcow2 image names an external data file; upload a standalone image."))
            break
        pos += 8 + ((ext_len + 7) // 8) * 8
    return size, sorted(set(problems), key=problems.index)


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    printable = sum(1 for b in head if 32 <= b < 127 or b in (9, 10, 13))
    return printable == len(head)


def qemu_img_problems(path: Path, claimed_format: str) -> list[str]:
    """Reasons to refuse the file, from `qemu-img info` (which probes the format, as a host would)."""
    command = ["prlimit", *QEMU_IMG_LIMITS, "qemu-img", "info", "--output=json", "-U", str(path)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return [_("qemu-img could not read this image within %(s)d seconds.") % {"s": QEMU_IMG_TIMEOUT_S}]
    try:
        info = json.loads(result.stdout) if result.returncode == 0 else None
    except ValueError:
        info = None
    if not isinstance(info, dict):
        return [_("qemu-img cannot read this image: %(why)s") % {"why": result.stderr.strip()[:300] or "?"}]
    problems = []
    found = info.get("format")
    if found != QEMU_FORMATS[claimed_format]:
        problems.append(
            _(
                "QEMU reads this file as a %(found)s image, not %(claimed)s. Only raw, qcow2 and ISO images are "
                "served; convert it first (qemu-img convert -O qcow2 FILE image.qcow2)."
            )
            % {"found": found or "?", "claimed": claimed_format}
        )
    if info.get("backing-filename") or info.get("full-backing-filename"):
        problems.append(_("This image names a backing file; upload a standalone image."))
    if (info.get("format-specific") or {}).get("data", {}).get("data-file"):
        problems.append(_("This image keeps its data in an external data file; upload a standalone image."))
    if info.get("encrypted"):
        problems.append(_("This image is encrypted; upload an unencrypted image."))
    return problems


def inspect_file(path: Path, claimed_format: str) -> Inspection:
    """What the file is; ValidationError on 'file' (or 'format') when it is not what is claimed."""
    inspection = _inspect_headers(path, claimed_format)
    problems = qemu_img_problems(path, claimed_format)
    if problems:
        raise _refuse(" ".join(problems))
    return inspection


def _inspect_headers(path: Path, claimed_format: str) -> Inspection:
    size = path.stat().st_size
    if size == 0:
        raise _refuse(_("The file is empty."))
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
        fh.seek(ISO_MAGIC_OFFSET)
        iso_sig = fh.read(len(ISO_MAGIC))
    actual = ImageFormat.QCOW2 if head[:4] == QCOW2_MAGIC else ImageFormat.ISO if iso_sig == ISO_MAGIC else None
    names = {ImageFormat.QCOW2: _("a qcow2 disk image"), ImageFormat.ISO: _("an ISO 9660 image")}
    if actual is not None and actual != claimed_format:
        raise ValidationError(
            {
                "format": _("This file is %(actual)s, not %(claimed)s; choose the right format (and kind) for it.")
                % {"actual": names[actual], "claimed": claimed_format}
            }
        )
    if claimed_format == ImageFormat.QCOW2:
        if actual is None:
            raise _refuse(_("This file is not a qcow2 image (it has no qcow2 header)."))
        virtual, problems = _qcow2_problems(head)
        if problems:
            raise _refuse(" ".join(problems))
        return Inspection(ImageFormat.QCOW2, size, virtual)
    if claimed_format == ImageFormat.ISO:
        if actual is None:
            raise _refuse(_("This file is not an ISO 9660 image (no CD001 signature at byte 32769)."))
        return Inspection(ImageFormat.ISO, size, size)
    if claimed_format == ImageFormat.RAW:
        if _looks_like_text(head[:4096]):
            raise _refuse(_("This looks like a text file, not a disk image."))
        if size % SECTOR:
            raise _refuse(
                _(
                    "A raw disk image is a whole number of 512-byte sectors; this file is %(size)d bytes. "
                    "Is it really a disk image?"
                )
                % {"size": size}
            )
        return Inspection(ImageFormat.RAW, size, size)
    raise ValidationError({"format": _("Choose raw, qcow2 or iso as the format.")})


def _check_fields(name: Any, kind: Any, fmt: Any) -> str:
    errors = {}
    if not isinstance(name, str) or not name.strip():
        errors["name"] = _("Give the image a name.")
    elif len(name.strip()) > 100 or any(ord(c) < 32 for c in name):
        errors["name"] = _("Use one line of at most 100 characters for the name.")
    elif Image.objects.filter(name=name.strip()).exists():
        errors["name"] = _("An image named '%(name)s' already exists.") % {"name": name.strip()}
    if kind not in KIND_FORMATS:
        errors["kind"] = _("Choose 'base' (a disk image VMs start from) or 'iso' (a CD-ROM).")
    elif fmt not in KIND_FORMATS[kind]:
        allowed = ", ".join(KIND_FORMATS[kind])
        errors["format"] = _("A %(kind)s must be in one of these formats: %(allowed)s.") % {
            "kind": ImageKind(kind).label,
            "allowed": allowed,
        }
    if errors:
        raise ValidationError(errors)
    return name.strip()


def _save_stream(source: Any, dest: Path) -> str:
    """Write an uploaded file (Django UploadedFile, or a binary file object) to dest; return its SHA-256."""
    digest = hashlib.sha256()
    chunks: Iterable[bytes]
    if hasattr(source, "chunks"):
        chunks = source.chunks()
    else:
        fh: BinaryIO = source
        chunks = iter(lambda: fh.read(1024 * 1024), b"")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def create_image(
    *,
    name: str,
    kind: str,
    format: str,
    file: Any,
    user,  # noqa: A002
    hosts: Iterable[Host] = (),
) -> tuple[Image, list[Job]]:
    """Check and store an uploaded image, then queue its copy to each of `hosts`.

    Nothing is kept when the file is refused. The file's name on disk is chosen here, never by the uploader.
    """
    name = _check_fields(name, kind, format)
    if file is None:
        raise _refuse(_("Choose a file to upload."))
    incoming = images_dir() / f".upload-{uuid.uuid4().hex}"
    try:
        sha256 = _save_stream(file, incoming)
        image = _record(name, kind, format, incoming, sha256, user, "image.upload")
    finally:
        if incoming.exists():
            incoming.unlink()
    jobs = copy_image(image, hosts, user) if hosts else []
    return image, jobs


def _record(
    name: str, kind: str, fmt: str, incoming: Path, sha256: str, user, action: str, stem: str | None = None
) -> Image:
    """Check the file at `incoming` like an upload, record the image, and move the file into the library.

    `stem`: the file's (and every host's volume's) name when it is chosen already; else from the image's id."""
    info = inspect_file(incoming, fmt)
    with transaction.atomic():
        image = Image.objects.create(
            name=name,
            kind=kind,
            format=fmt,
            size=info.size,
            virtual_size=info.virtual_size,
            sha256=sha256,
            uploaded_by=user,
        )
        stem = stem or f"image-{image.pk}-{slugify(name)[:40] or 'file'}.{EXTENSIONS[fmt]}"
        image.file = stem
        image.volume = stem
        image.save(update_fields=["file", "volume"])
        audit_log.record(user, action, image, kind=kind, format=fmt, size=info.size, sha256=sha256)
        os.replace(incoming, images_dir() / stem)
    return image


def check_image_name(name: Any) -> str:
    """A new image's name: one line, not taken (ValidationError on 'name')."""
    return _check_fields(name, ImageKind.BASE, ImageFormat.QCOW2)


def record_saved_disk(name: str, fmt: str, incoming: Path, sha256: str, stem: str, host: Host, user) -> Image:
    """A VM's disk saved as a base image (vms/runners/save_template.py): checked like an upload, kept in
    the library, and already on `host` as the volume `stem` (the job made it there first)."""
    image = _record(name, ImageKind.BASE, fmt, incoming, sha256, user, "image.save", stem=stem)
    ImageCopy.objects.create(image=image, host=host, volume=stem, state=CopyState.READY, progress=100)
    return image


def copy_image(image: Image, hosts: Iterable[Host], user) -> list[Job]:
    """Queue one image.copy job per host (a host that already has it gets a fresh copy)."""
    jobs = []
    with transaction.atomic():
        for host in hosts:
            copy, _created = ImageCopy.objects.get_or_create(image=image, host=host, defaults={"volume": image.volume})
            try:
                job = enqueue(COPY_JOB, target_for(copy), user, {"image": image.pk, "host": host.pk})
            except JobConflict as exc:
                message = _("%(host)s: %(why)s") % {"host": host.name, "why": exc}
                raise TargetBusy(exc, field="hosts", message=message) from None
            ImageCopy.objects.filter(pk=copy.pk).update(state=CopyState.PENDING, progress=0, error="", job=job)
            jobs.append(job)
        if jobs:
            host_ids = [job.params.get("host") for job in jobs]
            audit_log.record(user, "image.copy", image, hosts=host_ids, jobs=[job.pk for job in jobs])
    return jobs


def delete_image(image: Image, user=None) -> None:
    """Forget an image and remove its file here. Copies already on hosts stay there (they may be in use). Audited."""
    from vms.models import VMTemplate

    users = list(VMTemplate.objects.filter(base_image=image.volume).values_list("name", flat=True))
    users += [t.name for t in VMTemplate.objects.filter(domain_xml__contains=image.volume) if t.name not in users]
    if users:
        raise ValidationError(
            {"image": _("Templates still use this image: %(names)s. Change them first.") % {"names": ", ".join(users)}}
        )
    path = image.path if image.file else None
    with transaction.atomic():
        audit_log.record(user, "image.delete", image, volume=image.volume)
        image.delete()
    if path is not None and path.exists():
        path.unlink()


def set_published(image: Image, published: bool, user) -> Image:
    """Publish an ISO to users (they may insert it into their VMs' CD-ROM drives), or withdraw it. Audited."""
    if published and image.kind != ImageKind.ISO:
        raise ValidationError({"published": _("Only ISOs are published to users; this is a base disk image.")})
    Image.objects.filter(pk=image.pk).update(published=bool(published))
    image.published = bool(published)
    audit_log.record(user, "image.publish" if published else "image.unpublish", image)
    return image


def hosts_with_image(volume: str):
    """Hosts that have a ready copy of the image with this volume name (placement can require one)."""
    return Host.objects.filter(image_copies__volume=volume, image_copies__state=CopyState.READY)


def base_image_format(volume: str) -> str:
    """The declared (upload-checked) format of the base image with this volume name; qcow2 if unknown."""
    found = Image.objects.filter(volume=volume, kind=ImageKind.BASE).values_list("format", flat=True).first()
    return found or ImageFormat.QCOW2
