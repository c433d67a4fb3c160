"""The demo guest: the pure-Python newc writer, the build, and a real boot under QEMU/TCG.

Plain pytest, no Django and no database.  Downloaded .debs are cached in
``$DEMO_GUEST_CACHE`` (default ``var/cache/demo-guest`` under the repository root) so
repeated runs do not download again.  Run with ``-s`` to see the measured boot time.
"""

from __future__ import annotations

import gzip
import json
import os
import select
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sandbox import demo_guest as dg  # noqa: E402
from sandbox.demo_guest import (  # noqa: E402
    BANNER,
    KERNEL_CMDLINE,
    DemoGuest,
    DemoGuestError,
    NewcArchive,
    build_demo_guest,
)

QEMU = shutil.which("qemu-system-x86_64")
CPIO = shutil.which("cpio")
BOOT_TIMEOUT = 60.0


def _cache_dir() -> Path:
    path = Path(os.environ.get("DEMO_GUEST_CACHE", "var/cache/demo-guest"))
    return path if path.is_absolute() else REPO_ROOT / path


# --------------------------------------------------------------------------------------
# newc cpio writer
# --------------------------------------------------------------------------------------


def _parse_newc(raw: bytes) -> list[tuple[str, int, bytes, int, int]]:
    """(name, mode, data, rdevmajor, rdevminor) per entry; checks magic and alignment."""
    out, off = [], 0
    while True:
        assert off % 4 == 0, f"header at unaligned offset {off}"
        hdr = raw[off : off + 110]
        assert hdr[:6] == b"070701"
        f = [int(hdr[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        mode, size, rmaj, rmin, namesize = f[1], f[6], f[9], f[10], f[11]
        name = raw[off + 110 : off + 110 + namesize - 1].decode()
        assert raw[off + 110 + namesize - 1] == 0
        off += 110 + namesize
        off += -off % 4
        data = raw[off : off + size]
        off += size
        off += -off % 4
        if name == "TRAILER!!!":
            assert off == len(raw)
            return out
        out.append((name, mode, data, rmaj, rmin))


def _sample_archive() -> NewcArchive:
    arc = NewcArchive()
    arc.add_dir("etc")
    arc.add_file("etc/hostname", "demo\n")  # 5 bytes: exercises data padding
    arc.add_file("bin/tool", b"#!/bin/sh\necho hi\n", 0o755)  # parent dir added implicitly
    arc.add_file("secret", b"x" * 4096, 0o600)
    arc.add_file("empty", b"")
    arc.add_file("deep/er/still/file.txt", "nested")
    arc.add_symlink("bin/sh", "/bin/busybox")
    arc.add_symlink("link-to-hostname", "etc/hostname")
    arc.add_dir("tmp", 0o1777)
    arc.add_char_device("dev/null", 1, 3, 0o666)
    return arc


def test_newc_structure_and_parent_order():
    arc = _sample_archive()
    entries = _parse_newc(arc.to_bytes())
    names = [e[0] for e in entries]
    # every parent precedes its children (the kernel does not create parents)
    for i, name in enumerate(names):
        parent = str(Path(name).parent)
        if parent != ".":
            assert parent in names[:i], f"{parent} must come before {name}"
    by_name = {e[0]: e for e in entries}
    assert stat.S_ISDIR(by_name["bin"][1]) and stat.S_IMODE(by_name["bin"][1]) == 0o755
    assert stat.S_ISLNK(by_name["bin/sh"][1]) and by_name["bin/sh"][2] == b"/bin/busybox"
    assert stat.S_ISCHR(by_name["dev/null"][1]) and by_name["dev/null"][3:] == (1, 3)
    assert stat.S_IMODE(by_name["tmp"][1]) == 0o1777
    # gzip round trip, reproducible
    assert gzip.decompress(arc.to_gzip()) == arc.to_bytes()
    assert arc.to_gzip() == _sample_archive().to_gzip()


def test_newc_rejects_bad_names():
    arc = NewcArchive()
    arc.add_file("a", "1")
    with pytest.raises(ValueError):
        arc.add_file("a", "2")
    with pytest.raises(ValueError):
        arc.add_file("../escape", "x")
    with pytest.raises(ValueError):
        arc.add_file("a/b", "x")  # 'a' is a file, not a directory


@pytest.mark.skipif(CPIO is None, reason="system cpio not installed")
def test_newc_round_trips_through_system_cpio(tmp_path):
    arc = _sample_archive()
    archive = tmp_path / "sample.cpio"
    archive.write_bytes(arc.to_bytes())

    listing = subprocess.run(
        [CPIO, "-itv", "--quiet"], stdin=archive.open("rb"), capture_output=True, text=True, check=True
    ).stdout
    dev_line = next(line for line in listing.splitlines() if line.rstrip().endswith("dev/null"))
    assert dev_line.startswith("crw-rw-rw-"), dev_line

    root = tmp_path / "root"
    root.mkdir()
    # Device nodes need root to mknod; extract everything else everywhere.
    pattern = [] if os.geteuid() == 0 else ["-f", "dev/null"]
    subprocess.run(
        [CPIO, "-idm", "--quiet", "--no-absolute-filenames", *pattern], stdin=archive.open("rb"), cwd=root, check=True
    )

    assert (root / "etc/hostname").read_text() == "demo\n"
    assert (root / "bin/tool").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE((root / "bin/tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "secret").stat().st_mode) == 0o600
    assert (root / "secret").read_bytes() == b"x" * 4096
    assert (root / "empty").read_bytes() == b""
    assert stat.S_IMODE((root / "etc/hostname").stat().st_mode) == 0o644
    assert (root / "deep/er/still/file.txt").read_text() == "nested"
    assert (root / "bin/sh").is_symlink() and os.readlink(root / "bin/sh") == "/bin/busybox"
    assert os.readlink(root / "link-to-hostname") == "etc/hostname"
    assert (root / "link-to-hostname").read_text() == "demo\n"
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    assert (root / "bin/tool").stat().st_mtime == 0  # -m keeps the fixed mtime
    if os.geteuid() == 0:
        st = (root / "dev/null").stat()
        assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)


# --------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------


def test_apt_failure_is_a_clear_error(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text("#!/bin/sh\necho 'E: mirror is on fire' >&2\nexit 100\n")
    (fake / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    with pytest.raises(DemoGuestError) as exc:
        build_demo_guest(tmp_path / "out", tmp_path / "cache")
    msg = str(exc.value)
    assert "linux-image-cloud-amd64" in msg and "mirror is on fire" in msg
    assert "apt-get update" in msg


needs_debian = pytest.mark.skipif(
    not (shutil.which("apt-get") and shutil.which("dpkg-deb")), reason="needs Debian's apt-get and dpkg-deb"
)


@pytest.fixture(scope="session")
def guest(tmp_path_factory) -> DemoGuest:
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        pytest.skip("needs Debian's apt-get and dpkg-deb")
    out = tmp_path_factory.mktemp("demo-guest")
    t0 = time.monotonic()
    built = build_demo_guest(out, _cache_dir())
    print(
        f"\n[demo guest] built in {time.monotonic() - t0:.1f} s: {built.kernel_package} "
        f"{built.kernel_package_version} ({built.kernel_version}); kernel "
        f"{built.kernel.stat().st_size / 1e6:.1f} MB + initrd {built.initrd.stat().st_size / 1e6:.2f} MB"
    )
    return built


@needs_debian
def test_build_outputs(guest):
    assert guest.kernel.name == "vmlinuz" and guest.initrd.name == "initrd.img"
    assert guest.kernel_version.endswith("-cloud-amd64")
    assert guest.kernel_package == f"linux-image-{guest.kernel_version}"
    assert guest.cmdline == KERNEL_CMDLINE and "console=ttyS0" in KERNEL_CMDLINE
    for path in (guest.kernel, guest.initrd):
        assert stat.S_IMODE(path.stat().st_mode) & 0o444 == 0o444  # readable by libvirt's qemu
    assert guest.kernel.read_bytes()[0x202:0x206] == b"HdrS"  # x86 bzImage boot header

    entries = {e[0]: e for e in _parse_newc(gzip.decompress(guest.initrd.read_bytes()))}
    for name in (
        "init",
        "bin/busybox",
        "bin/sh",
        "sbin/init",
        "bin/cttyhack",
        "sbin/poweroff",
        "sbin/acpid",
        "etc/hostname",
        "etc/inittab",
        "dev/console",
        "proc",
        "sys",
        "tmp",
        "lib/modules/button.ko",
        "lib/modules/evdev.ko",
        "etc/acpi/PWRF/00000080",
    ):
        assert name in entries, name
    assert stat.S_IMODE(entries["init"][1]) == 0o755
    assert BANNER.encode() in entries["init"][2]
    assert entries["bin/sh"][2] == b"/bin/busybox"
    assert stat.S_ISCHR(entries["dev/console"][1]) and entries["dev/console"][3:] == (5, 1)
    assert entries["bin/busybox"][2][:4] == b"\x7fELF"


@needs_debian
def test_second_build_is_fast_and_untouched(guest):
    before = {p: p.stat().st_mtime_ns for p in (guest.kernel, guest.initrd)}
    t0 = time.monotonic()
    again = build_demo_guest(guest.kernel.parent, _cache_dir())
    assert time.monotonic() - t0 < 1.0
    assert again == guest
    assert {p: p.stat().st_mtime_ns for p in (guest.kernel, guest.initrd)} == before


@needs_debian
def test_inconsistent_output_is_rebuilt_from_cache(guest, tmp_path):
    out = tmp_path / "copy"
    out.mkdir()
    for p in (guest.kernel, guest.initrd, guest.kernel.parent / dg.MANIFEST_NAME):
        shutil.copy2(p, out / p.name)
    (out / "initrd.img").write_bytes(b"truncated")
    rebuilt = build_demo_guest(out, _cache_dir())
    assert rebuilt.initrd.read_bytes() == guest.initrd.read_bytes()  # reproducible
    meta = json.loads((out / dg.MANIFEST_NAME).read_text())
    assert meta["initrd_size"] == guest.initrd.stat().st_size


# --------------------------------------------------------------------------------------
# booting under QEMU (TCG)
# --------------------------------------------------------------------------------------


class SerialGuest:
    """QEMU with the guest's ttyS0 on stdin/stdout pipes and QMP on a unix socket."""

    def __init__(self, guest: DemoGuest, workdir: Path):
        self.qmp_path = workdir / "qmp.sock"
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                QEMU,
                "-accel",
                "tcg",
                "-m",
                "256",
                "-smp",
                "1",
                "-nodefaults",
                "-display",
                "none",
                "-no-reboot",
                "-serial",
                "stdio",
                "-qmp",
                f"unix:{self.qmp_path},server=on,wait=off",
                "-kernel",
                str(guest.kernel),
                "-initrd",
                str(guest.initrd),
                "-append",
                guest.cmdline,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.output = b""

    def read_until(self, needle: str, timeout: float = BOOT_TIMEOUT) -> float:
        """Seconds since start when *needle* appeared in the serial output."""
        want, end = needle.encode(), time.monotonic() + timeout
        while want not in self.output:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{needle!r} not seen within {timeout:.0f} s; serial output:\n"
                    + self.output.decode(errors="replace")[-3000:]
                )
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    raise AssertionError(
                        f"QEMU exited before {needle!r}: {err}\n" + self.output.decode(errors="replace")[-3000:]
                    )
                self.output += chunk
        return time.monotonic() - self.started

    def type(self, text: str) -> None:
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def qmp(self, command: str) -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(self.qmp_path))
            f = s.makefile("rwb")
            json.loads(f.readline())  # greeting
            for cmd in ("qmp_capabilities", command):
                f.write(json.dumps({"execute": cmd}).encode() + b"\n")
                f.flush()
                while True:
                    reply = json.loads(f.readline())
                    if "return" in reply or "error" in reply:
                        assert "error" not in reply, reply
                        break

    def wait_exit(self, timeout: float) -> int:
        # keep draining the serial output so QEMU never blocks on a full pipe
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                self.output += os.read(self.proc.stdout.fileno(), 65536)
        if self.proc.poll() is None:
            raise AssertionError(
                f"guest did not power off within {timeout:.0f} s:\n" + self.output.decode(errors="replace")[-3000:]
            )
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()


@pytest.fixture
def booted(guest, tmp_path):
    if QEMU is None:
        pytest.skip("qemu-system-x86_64 not installed")
    vm = SerialGuest(guest, tmp_path)
    try:
        yield vm
    finally:
        vm.kill()


@needs_debian
def test_boots_to_banner_and_answers_uname(booted, guest):
    banner_at = booted.read_until(BANNER)
    booted.read_until("# ")
    out = booted.output.decode(errors="replace")
    assert out.index(BANNER) < out.index("# "), "banner must come before the shell prompt"
    print(f"\n[demo guest] boot to banner under TCG: {banner_at:.2f} s")

    booted.type("uname -a\n")
    booted.read_until(f"Linux demo-guest {guest.kernel_version}", timeout=20)
    booted.read_until("GNU/Linux", timeout=20)

    # job control works on the console
    booted.type("sleep 300 &\njobs\n")
    booted.read_until("Running", timeout=20)

    # the shell respawns when it exits, so the console never dies
    booted.output = b""
    booted.type("exit\n")
    booted.read_until("BusyBox v", timeout=20)
    booted.read_until("# ", timeout=20)
    booted.type("echo still-$((40+2))\n")
    booted.read_until("still-42", timeout=20)

    booted.type("poweroff\n")
    assert booted.wait_exit(30) == 0


@needs_debian
def test_acpi_power_button_powers_off(booted):
    booted.read_until("# ")
    booted.qmp("system_powerdown")  # what 'virsh shutdown' does
    assert booted.wait_exit(30) == 0
    assert b"power button pressed" in booted.output
