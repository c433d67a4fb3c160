"""Images and ISOs: checked at upload, copied to a real sandbox host by a real job."""

from __future__ import annotations

import io
import json
import subprocess

import libvirt
import pycdlib
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.choices import JobState
from jobs.execution import execute
from tests.support.virsh import virsh
from tests.vms.templates.conftest import qemu_img
from vms.hypervisor.connection import open_connection
from vms.hypervisor.volumes import ensure_disk
from vms.models import CopyState, Image, ImageCopy
from vms.services.images import create_image, hosts_with_image

pytestmark = pytest.mark.django_db


def upload(path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def make_iso(path) -> None:
    iso = pycdlib.PyCdlib()
    iso.new(vol_ident="TESTISO")
    iso.add_fp(io.BytesIO(b"hello\n"), 6, "/HELLO.TXT;1")
    iso.write(str(path))
    iso.close()


@pytest.mark.sandbox
def test_qcow2_upload_copies_to_a_sandbox_host_as_a_job(image_dir, admin_user, sandbox_host):
    disk = image_dir / "tiny.qcow2"
    qemu_img("create", "-f", "qcow2", disk, "16M")
    image, jobs = create_image(
        name="Tiny Linux", kind="base", format="qcow2", file=upload(disk), user=admin_user, hosts=[sandbox_host]
    )
    assert image.virtual_size == 16 * 2**20 and image.size == disk.stat().st_size
    assert image.path.read_bytes() == disk.read_bytes() and len(image.sha256) == 64
    assert image.volume == f"image-{image.pk}-tiny-linux.qcow2"
    (job,) = jobs
    copy = ImageCopy.objects.get(image=image, host=sandbox_host)
    assert copy.state == CopyState.PENDING and copy.job_id == job.pk
    uri = sandbox_host.uri
    try:
        assert execute(job.pk, 0).state == JobState.SUCCEEDED
        job.refresh_from_db()
        copy.refresh_from_db()
        assert (copy.state, copy.progress, job.progress) == (CopyState.READY, 100, 100)
        assert image.volume in virsh(uri, "vol-list", "default")
        info = virsh(uri, "vol-info", "--pool", "default", "--bytes", image.volume)
        assert f"{16 * 2**20} bytes" in info  # libvirt sees the qcow2's virtual size
        physical = virsh(uri, "vol-dumpxml", "--pool", "default", image.volume)
        assert f"<physical unit='bytes'>{image.size}</physical>" in physical
        assert "<format type='qcow2'/>" in physical
        assert list(hosts_with_image(image.volume)) == [sandbox_host]
        # The provisioner's contract: template.base_image is this volume name; an overlay starts from it.
        conn = open_connection(uri)
        try:
            path = ensure_disk(conn, "default", "overlay-test.qcow2", 1, "qcow2", base_volume=image.volume)
            overlay = conn.storageVolLookupByPath(path)
            assert image.volume in overlay.XMLDesc(0) and "<backingStore>" in overlay.XMLDesc(0)
        finally:
            conn.close()
    finally:
        conn = open_connection(uri)
        pool = conn.storagePoolLookupByName("default")
        for name in ("overlay-test.qcow2", image.volume):
            try:
                pool.storageVolLookupByName(name).delete(0)
            except libvirt.libvirtError:
                pass
        conn.close()


def test_iso_and_raw_uploads_are_accepted(image_dir, admin_user):
    iso = image_dir / "tools.iso"
    make_iso(iso)
    image, jobs = create_image(name="Tools", kind="iso", format="iso", file=upload(iso), user=admin_user)
    assert image.volume.endswith(".iso") and not jobs and image.path.exists()
    raw = image_dir / "blank.img"
    qemu_img("create", "-f", "raw", raw, "1M")
    image, _jobs = create_image(name="Blank", kind="base", format="raw", file=upload(raw), user=admin_user)
    assert image.virtual_size == 2**20


@pytest.mark.parametrize(
    "case",
    [
        "text-as-qcow2",
        "text-as-raw",
        "backing-file",
        "qcow2-as-iso",
        "qcow2-as-raw",
        "iso-as-qcow2",
        "odd-raw",
        "data-file",
        "kind-mismatch",
    ],
)
def test_bad_files_are_refused_and_nothing_is_kept(case, image_dir, admin_user):
    base = image_dir / "base.qcow2"
    qemu_img("create", "-f", "qcow2", base, "8M")
    claim = {"kind": "base", "format": "qcow2"}
    if case.startswith("text"):
        path = image_dir / "notes.txt"
        path.write_text("just some notes\n" * 64)  # 1024 bytes: even a whole number of sectors
        claim["format"] = "qcow2" if case == "text-as-qcow2" else "raw"
        field, words = "file", "not a qcow2 image" if case == "text-as-qcow2" else "text file"
    elif case == "backing-file":
        path = image_dir / "top.qcow2"
        qemu_img("create", "-f", "qcow2", "-b", base, "-F", "qcow2", path)
        field, words = "file", "has a backing file"
    elif case == "data-file":
        path = image_dir / "split.qcow2"
        qemu_img("create", "-f", "qcow2", "-o", f"data_file={image_dir / 'split.data'}", path, "8M")
        field, words = "file", "external data file"
    elif case == "qcow2-as-iso":
        path, claim = base, {"kind": "iso", "format": "iso"}
        field, words = "format", "is a qcow2 disk image, not iso"
    elif case == "qcow2-as-raw":
        path, claim = base, {"kind": "base", "format": "raw"}
        field, words = "format", "is a qcow2 disk image, not raw"
    elif case == "iso-as-qcow2":
        path = image_dir / "x.iso"
        make_iso(path)
        field, words = "format", "is an ISO 9660 image, not qcow2"
    elif case == "odd-raw":
        path = image_dir / "odd.img"
        path.write_bytes(b"\x00\x01" * 300)
        claim["format"] = "raw"
        field, words = "file", "512-byte sectors"
    else:
        path, claim = base, {"kind": "iso", "format": "qcow2"}
        field, words = "format", "must be in one of these formats: iso"
    with pytest.raises(ValidationError) as info:
        create_image(name="bad", file=upload(path), user=admin_user, **claim)
    assert words in " ".join(info.value.message_dict[field])
    assert not Image.objects.exists()
    folder = image_dir / "var" / "images"
    assert not folder.exists() or not any(folder.iterdir())


def test_qemu_img_agrees_with_our_header_reading(image_dir):
    """Our own qcow2 header parser and qemu-img see the same backing file (sanity check of the parser)."""
    base = image_dir / "b.qcow2"
    top = image_dir / "t.qcow2"
    qemu_img("create", "-f", "qcow2", base, "4M")
    qemu_img("create", "-f", "qcow2", "-b", base, "-F", "qcow2", top)
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(top)], check=True, capture_output=True, text=True
        ).stdout
    )
    assert info["backing-filename"] == str(base)
    from vms.services.images import _qcow2_problems

    _size, problems = _qcow2_problems(top.read_bytes()[:65536])
    assert problems


@pytest.mark.parametrize(
    "fmt,options",
    [
        ("qed", ["-b", "/etc/shadow", "-F", "raw"]),
        ("vmdk", []),
        ("vpc", []),
        ("vhdx", []),
    ],
)
def test_uploads_are_checked_by_qemu_img_not_by_their_first_bytes(fmt, options, image_dir, admin_user):
    """A file QEMU would take for QED, VMDK, VHD or qcow1 (some naming a backing file such as
    /etc/shadow) is refused when uploaded as raw: the host would probe it and open that file."""
    path = image_dir / f"disguised.{fmt}"
    qemu_img("create", "-f", fmt, *options, path, "1M")
    size = path.stat().st_size
    if size % 512:  # our own header reading would refuse an odd size; the point is what qemu-img sees
        path.write_bytes(path.read_bytes() + b"\0" * (512 - size % 512))
    with pytest.raises(ValidationError) as info:
        create_image(name="disguised", kind="base", format="raw", file=upload(path), user=admin_user)
    message = " ".join(info.value.message_dict["file"])
    assert f"QEMU reads this file as a {fmt} image, not raw" in message
    assert not Image.objects.exists()


def test_a_plain_raw_image_and_an_iso_pass_the_qemu_img_check(image_dir, admin_user):
    raw = image_dir / "plain.img"
    qemu_img("create", "-f", "raw", raw, "1M")
    iso = image_dir / "plain.iso"
    make_iso(iso)
    assert create_image(name="raw", kind="base", format="raw", file=upload(raw), user=admin_user)[0].pk
    assert create_image(name="iso", kind="iso", format="iso", file=upload(iso), user=admin_user)[0].pk


@pytest.mark.sandbox
def test_an_overlay_names_the_declared_format_of_its_base_so_nothing_is_probed(sandbox_uris, image_dir):
    """The base holds qcow2 bytes but was declared raw: the overlay says raw, and QEMU reads it as raw
    (a probe would have found qcow2 and followed whatever that header names)."""
    uri = sandbox_uris[0]
    conn = open_connection(uri)
    try:
        pool = conn.storagePoolLookupByName("default")
        base = image_dir / "declared-raw.img"
        qemu_img("create", "-f", "qcow2", base, "1M")
        name = "holes-declared-raw-base.img"
        for vol_name in (name, "holes-overlay.qcow2"):
            try:
                pool.storageVolLookupByName(vol_name).delete(0)
            except libvirt.libvirtError:
                pass
        from sandbox.fleet import POOL_NAME
        from vms.hypervisor.storage import upload_file

        upload_file(conn, POOL_NAME, name, base)
        try:
            ensure_disk(conn, "default", "holes-overlay.qcow2", 1, "qcow2", base_volume=name, base_format="raw")
            xml = virsh(uri, "vol-dumpxml", "--pool", "default", "holes-overlay.qcow2")
            assert "<format type='raw'/>" in xml.split("<backingStore>")[1]
        finally:
            for vol_name in ("holes-overlay.qcow2", name):
                try:
                    pool.storageVolLookupByName(vol_name).delete(0)
                except libvirt.libvirtError:
                    pass
    finally:
        conn.close()
