"""The demo installer ISO: built from Debian packages, cached, and bootable under real QEMU on a sandbox
host: a blank disk and the ISO, boot order disk then CD-ROM; the installer asks on the serial console,
writes the disk and powers off; ejected, the VM boots its disk and prints the installed system's banner.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from lxml import etree

from sandbox.install import DEMO_INSTALLER_VOLUME
from sandbox.installer_domain import CDROM_TARGET, installer_domain_xml
from sandbox.installer_iso import INSTALL_DONE, INSTALL_PROMPT, SYSTEM_BANNER, build_installer_iso
from tests.support.virsh import virsh
from vms.hypervisor.connection import open_connection
from vms.hypervisor.console import ConsoleSession
from vms.hypervisor.storage import upload_file

pytestmark = pytest.mark.sandbox

SECTOR = 2048  # ISO 9660 logical block


def _iso() -> Path:
    return build_installer_iso(settings.VAR_DIR / "demo-installer", settings.DEMO_GUEST_DIR).path


def test_iso_is_el_torito_bootable_and_cached():
    iso = build_installer_iso(settings.VAR_DIR / "demo-installer", settings.DEMO_GUEST_DIR)
    with iso.path.open("rb") as fh:
        fh.seek(16 * SECTOR)
        primary = fh.read(SECTOR)
        boot_record = fh.read(SECTOR)  # sector 17: the El Torito boot record volume descriptor
    assert primary[1:6] == b"CD001" and primary[40:54] == b"DEMO_INSTALLER"
    assert boot_record[0] == 0 and boot_record[1:6] == b"CD001"
    assert boot_record[7:30] == b"EL TORITO SPECIFICATION"
    # A second build with the same inputs is the cached file, untouched.
    mtime = iso.path.stat().st_mtime
    again = build_installer_iso(settings.VAR_DIR / "demo-installer", settings.DEMO_GUEST_DIR)
    assert again.build_seconds == 0.0 and again.sha256 == iso.sha256 and iso.path.stat().st_mtime == mtime
    assert iso.size < 40 * 2**20, "the installer should stay tiny"


def _state(uri: str, name: str) -> str:
    return virsh(uri, "domstate", name).strip()


def _boot_and_read(conn, uri: str, name: str) -> ConsoleSession:
    """Start paused, attach the console, then run: nothing the guest prints is missed."""
    virsh(uri, "start", "--paused", name)
    console = ConsoleSession(conn, conn.lookupByName(name))
    virsh(uri, "resume", name)
    return console


def test_install_from_iso_on_a_sandbox_host(sandbox_fleet):
    host = sandbox_fleet.host(1)
    uri = host.uri
    name = f"iso-test-{uuid.uuid4().hex[:8]}"
    disk_volume = f"{name}.img"
    conn = open_connection(host.tcp_uri)
    try:
        upload_file(conn, "default", DEMO_INSTALLER_VOLUME, _iso())  # what `sandbox up` does for every host
        virsh(uri, "vol-create-as", "default", disk_volume, "64M", "--format", "raw")
        disk_path = virsh(uri, "vol-path", disk_volume, "--pool", "default").strip()
        xml = etree.fromstring(installer_domain_xml(memory_mib=256).encode())
        xml.find("name").text = name
        disk = xml.find("devices/disk[@device='disk']")
        etree.SubElement(disk, "source", file=disk_path)
        with open(Path(settings.VAR_DIR) / f"{name}.xml", "wb") as fh:
            fh.write(etree.tostring(xml))
        virsh(uri, "define", fh.name)
        Path(fh.name).unlink()
        dumped = virsh(uri, "dumpxml", name)
        assert "<boot dev='hd'/>\n    <boot dev='cdrom'/>" in dumped, dumped
        blk = virsh(uri, "domblklist", name, "--details")
        assert DEMO_INSTALLER_VOLUME in blk and disk_volume in blk, blk

        started = time.monotonic()
        console = _boot_and_read(conn, uri, name)
        # The blank disk has no boot sector: the BIOS falls through to the CD, whose installer asks.
        console.read_until(INSTALL_PROMPT, timeout=120)
        asked = time.monotonic() - started
        mark = len(console.buffer)
        console.write("no\r")  # anything but the word writes nothing and asks again
        console.read_until("Nothing was written.", timeout=30, start=mark)
        assert _state(uri, name) == "running"
        mark = len(console.buffer)
        console.write("install\r")
        console.read_until(INSTALL_DONE, timeout=60, start=mark)
        deadline = time.monotonic() + 60
        while _state(uri, name) != "shut off":
            assert time.monotonic() < deadline, "the installer did not power the VM off"
            time.sleep(0.5)
        installed = time.monotonic() - started
        console.close()

        # The user ejects the ISO (the Disks tab's eject button does the same to the saved config).
        virsh(uri, "change-media", name, CDROM_TARGET, "--eject", "--config")
        blk = virsh(uri, "domblklist", name, "--details")
        assert DEMO_INSTALLER_VOLUME not in blk, blk
        started = time.monotonic()
        console = _boot_and_read(conn, uri, name)
        console.read_until(SYSTEM_BANNER, timeout=120)
        booted = time.monotonic() - started
        assert INSTALL_PROMPT not in console.text()
        console.close()
        print(f"prompt after {asked:.1f} s, installed and off after {installed:.1f} s, disk boot {booted:.1f} s")
    finally:
        # Whatever the test got to: a step that has nothing to undo fails, and that is fine.
        for args in (("destroy", name), ("undefine", name), ("vol-delete", disk_volume, "--pool", "default")):
            with contextlib.suppress(subprocess.CalledProcessError):
                virsh(uri, *args)
        conn.close()
