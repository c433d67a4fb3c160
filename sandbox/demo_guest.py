"""Build a tiny demo guest (kernel + initramfs) from Debian packages only.

The guest boots by direct kernel boot::

    qemu-system-x86_64 -accel tcg -m 256 -kernel vmlinuz -initrd initrd.img \\
        -append "console=ttyS0 quiet ..."

or, under libvirt::

    <os><type>hvm</type><kernel>…/vmlinuz</kernel><initrd>…/initrd.img</initrd>
        <cmdline>console=ttyS0 …</cmdline></os>
    <serial type='pty'/><console type='pty'/>

Its ``/init`` prints :data:`BANNER` on the serial console before anything else, then
hands over to busybox ``init``, which keeps an interactive shell (with job control)
respawning on the console.  ``poweroff`` in the shell powers the guest off, and so
does the ACPI power button (``virsh shutdown``): the initramfs carries the kernel's
``button`` and ``evdev`` modules and runs busybox ``acpid``.

Ingredients, all fetched with ``apt-get download`` into a cache directory (no system
installation needed):

* the kernel from Debian's cloud kernel (``linux-image-cloud-amd64`` metapackage,
  resolved to the real ``linux-image-<abi>-cloud-amd64`` package);
* ``/bin/busybox`` from ``busybox-static``.

The initramfs is a gzip-compressed newc cpio archive written in pure Python
(:class:`NewcArchive`), so building needs no root, no ``cpio`` and no device nodes on
the host.  Builds are reproducible (fixed mtimes) and idempotent: a second call with
the same ``out_dir`` returns immediately without touching apt.

Stdlib only; no Django imports.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = [
    "BANNER",
    "KERNEL_CMDLINE",
    "KERNEL_METAPACKAGE",
    "BUSYBOX_PACKAGE",
    "DemoGuest",
    "DemoGuestError",
    "NewcArchive",
    "build_demo_guest",
    "build_initramfs",
]

#: First line the guest's init prints on the serial console.
BANNER = "demo guest booted"

#: Kernel command line for direct kernel boot.  ``console=ttyS0`` puts the console
#: (and the shell) on the first serial port; ``quiet loglevel=3`` keeps printk out
#: of the way so the banner is easy to spot; ``panic=-1`` reboots at once on a
#: panic (QEMU ``-no-reboot`` / libvirt ``on_reboot`` then stop the guest); the rest
#: trims boot time under software emulation (TCG).
KERNEL_CMDLINE = "console=ttyS0 quiet loglevel=3 panic=-1 tsc=reliable no_timer_check i8042.noaux i8042.nomux"
#: The same on a screen too: the kernel writes to every console= (the VGA text console tty0 and the
#: serial port); /dev/console, where /init prints, is the last one, so the serial console is unchanged.
#: Not quiet: the boot messages are what the screen shows.
SCREEN_KERNEL_CMDLINE = "console=tty0 console=ttyS0 panic=-1 tsc=reliable no_timer_check i8042.noaux"

#: Debian metapackage that depends on the current cloud kernel image package.
KERNEL_METAPACKAGE = "linux-image-cloud-amd64"
#: Debian package shipping a statically linked ``/bin/busybox``.
BUSYBOX_PACKAGE = "busybox-static"

#: Kernel modules (without ``.ko``) put in the initramfs and loaded by ``/init``, in
#: load order: the ACPI power button driver and the event device interface that
#: busybox ``acpid`` reads; the virtio PCI transport and the virtio NIC driver (both
#: modules in Debian's cloud kernel), so a ``<model type='virtio'/>`` interface shows
#: up as eth0; the virtio balloon driver, so a running VM's memory can change live; the
#: virtio disk driver, so the VM's disk is /dev/vda (tests write and read it: snapshots, clones).
#: Their dependencies (virtio, virtio_ring, failover, net_failover, ...)
#: are found from each module's ``depends=`` and loaded first.  Missing modules only
#: cost ACPI shutdown or the network, not the boot.
INITRAMFS_MODULES = ("evdev", "button", "virtio_pci", "virtio_net", "virtio_balloon", "virtio_blk")

#: Bump whenever the layout of the outputs changes, so old builds are redone.
BUILD_FORMAT = 3  # bumped when the initramfs recipe changes (3: the virtio disk driver)

KERNEL_NAME = "vmlinuz"
INITRD_NAME = "initrd.img"
MANIFEST_NAME = "demo-guest.json"

#: Fixed timestamp for everything in the initramfs (reproducible builds).
_EPOCH = 0
_APT_TIMEOUT = 600


class DemoGuestError(RuntimeError):
    """Building the demo guest failed; the message says what failed and what to do."""


@dataclass(frozen=True)
class DemoGuest:
    """A built demo guest: files for direct kernel boot."""

    kernel: Path
    initrd: Path
    #: ``uname -r`` inside the guest, e.g. ``6.1.0-56-cloud-amd64``.
    kernel_version: str
    #: Debian package the kernel came from, e.g. ``linux-image-6.1.0-56-cloud-amd64``.
    kernel_package: str = ""
    #: Debian version of that package, e.g. ``6.1.192-2``.
    kernel_package_version: str = ""
    #: Debian version of ``busybox-static`` used.
    busybox_version: str = ""
    #: Kernel command line to boot it with.
    cmdline: str = KERNEL_CMDLINE


# --------------------------------------------------------------------------------------
# newc cpio writer
# --------------------------------------------------------------------------------------

_NEWC_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


class NewcArchive:
    """Minimal writer for the SVR4 "newc" cpio format (what the kernel unpacks).

    Each entry is a 110-byte ASCII header (magic ``070701`` and 13 fields of eight
    hex digits), the NUL-terminated name padded to a multiple of four bytes, then
    the data padded likewise.  The archive ends with a ``TRAILER!!!`` entry.

    Entries are kept in insertion order; parent directories are added
    automatically (mode 0755) before the first entry inside them, because the
    kernel's unpacker does not create missing parents.  All entries belong to
    root:root.
    """

    def __init__(self, mtime: int = _EPOCH) -> None:
        self.mtime = mtime
        self._entries: dict[str, tuple[int, bytes, int, int]] = {}

    # ---- adding entries --------------------------------------------------------------

    @staticmethod
    def _norm(name: str) -> str:
        path = PurePosixPath("/", name)
        if ".." in path.parts:
            raise ValueError(f"cpio entry name must not contain '..': {name!r}")
        rel = str(path)[1:]
        if not rel:
            raise ValueError("cpio entry name must not be empty or '/'")
        return rel

    def _ensure_parents(self, name: str) -> None:
        parent = PurePosixPath(name).parent
        for p in reversed((parent, *parent.parents)):
            key = str(p)
            if key in (".", ""):
                continue
            if key not in self._entries:
                self._entries[key] = (stat.S_IFDIR | 0o755, b"", 0, 0)
            elif not stat.S_ISDIR(self._entries[key][0]):
                raise ValueError(f"cpio entry {key!r} is not a directory")

    def _add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        rel = self._norm(name)
        self._ensure_parents(rel)
        if rel in self._entries and not (stat.S_ISDIR(mode) and stat.S_ISDIR(self._entries[rel][0])):
            raise ValueError(f"duplicate cpio entry {rel!r}")
        self._entries[rel] = (mode, data, rdev[0], rdev[1])

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        self._add(name, stat.S_IFDIR | (mode & 0o7777))

    def add_file(self, name: str, data: bytes | str, mode: int = 0o644) -> None:
        if isinstance(data, str):
            data = data.encode()
        self._add(name, stat.S_IFREG | (mode & 0o7777), data)

    def add_symlink(self, name: str, target: str) -> None:
        self._add(name, stat.S_IFLNK | 0o777, target.encode())

    def add_char_device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._add(name, stat.S_IFCHR | (mode & 0o7777), rdev=(major, minor))

    def __contains__(self, name: str) -> bool:
        return self._norm(name) in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    # ---- writing ---------------------------------------------------------------------

    @staticmethod
    def _header(
        ino: int, mode: int, nlink: int, mtime: int, size: int, rdevmajor: int, rdevminor: int, namesize: int
    ) -> bytes:
        fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdevmajor, rdevminor, namesize, 0)
        return _NEWC_MAGIC + b"".join(b"%08X" % f for f in fields)

    def _write_entry(
        self,
        out: io.BufferedIOBase | io.BytesIO,
        ino: int,
        name: str,
        mode: int,
        data: bytes,
        rdevmajor: int = 0,
        rdevminor: int = 0,
    ) -> None:
        bname = name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(mode) else 1
        header = self._header(ino, mode, nlink, self.mtime, len(data), rdevmajor, rdevminor, len(bname))
        assert len(header) == 110
        out.write(header)
        out.write(bname)
        out.write(_pad4(110 + len(bname)))
        out.write(data)
        out.write(_pad4(len(data)))

    def write(self, out) -> None:
        """Write the uncompressed archive to the binary file object *out*."""
        ino = 0
        for ino, (name, (mode, data, major, minor)) in enumerate(self._entries.items(), start=1):
            self._write_entry(out, ino, name, mode, data, major, minor)
        self._write_entry(out, 0, _TRAILER, 0, b"")

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.write(buf)
        return buf.getvalue()

    def to_gzip(self) -> bytes:
        """The archive gzip-compressed, reproducibly (no name, mtime 0)."""
        return gzip.compress(self.to_bytes(), compresslevel=9, mtime=0)


# --------------------------------------------------------------------------------------
# guest contents
# --------------------------------------------------------------------------------------

_INIT_SCRIPT = """\
#!/bin/sh
# /init of the demo guest, generated by sandbox/demo_guest.py.
# Runs as PID 1: print the banner, set up the system, hand over to busybox init.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
echo "{banner}" >/dev/console

mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devpts devpts /dev/pts 2>/dev/null || true
mount -t tmpfs -o mode=1777 tmpfs /tmp 2>/dev/null || true
hostname -F /etc/hostname
ip link set lo up 2>/dev/null || true

# ACPI power button (virsh shutdown): button -> input event -> acpid -> poweroff.
for m in {modules}; do
    [ -e /lib/modules/"$m".ko ] && insmod /lib/modules/"$m".ko 2>/dev/null
done
acpid -c /etc/acpi -l /dev/null 2>/dev/null || true

# Every NIC (on the lab's br0, on libvirt's `default` network, or plugged in while the guest runs):
# ask for an address by DHCP in the background, so the boot never waits for a DHCP server; the script
# prints the address on the console once bound. New NICs are looked for every 2 s.
(
    while :; do
        for dev in /sys/class/net/*; do
            nic=${{dev##*/}}
            [ "$nic" = lo ] || [ -e /tmp/udhcpc."$nic" ] && continue
            : >/tmp/udhcpc."$nic"
            ip link set "$nic" up
            (udhcpc -f -i "$nic" -s /usr/share/udhcpc/default.script -x hostname:"$(hostname)"
             rm -f /tmp/udhcpc."$nic") &
        done
        sleep 2
    done
) >/dev/null 2>&1 &

echo "Demo guest: busybox shell on the serial console. Try 'uname -a'; 'poweroff' stops the guest."
exec /sbin/init
"""

_INITTAB = """\
# busybox init: keep a shell with job control on the console (cttyhack finds ttyS0).
::respawn:/bin/cttyhack /bin/sh -l
# ... and one on the screen (the VGA console of "Demo guest with screen"; without a screen the
# kernel's dummy console takes it and nobody sees it).
tty1::respawn:/bin/sh -l
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
"""

_PROFILE = """\
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/root
export TERM=${TERM:-vt100}
PS1='\\u@\\h:\\w\\$ '
cd "$HOME"
"""

_UDHCPC_SCRIPT = """\
#!/bin/sh
# Called by busybox udhcpc: $1 says what happened, the lease is in the environment ($ip, $mask, ...).
# Only the address is configured: no route and no DNS server are taken from the lease, so this guest
# never gets a way off its network whatever a DHCP server offers.
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    old=$(ip -4 -o addr show dev "$interface" | awk '{print $4}')
    ip addr replace "$ip/${mask:-24}" dev "$interface"
    if [ "$old" != "$ip/${mask:-24}" ]; then
        # Announce the address (RFC 5227): the neighbours (the host's bridge) learn it at once.
        arping -U -c 1 -I "$interface" "$ip" >/dev/null 2>&1
        echo "network address: $ip ($interface)" >/dev/console
    fi
    ;;
esac
exit 0
"""

_ACPI_POWER = """\
#!/bin/sh
# Run by busybox acpid when the ACPI power button is pressed (virsh shutdown).
echo "demo guest: power button pressed, powering off" >/dev/console
exec /sbin/poweroff
"""


def add_base_system(arc: NewcArchive, busybox: bytes, applets: list[str]) -> None:
    """The directories, device nodes and busybox (with its applet links) every initramfs here starts from."""
    for d in (
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "dev",
        "proc",
        "sys",
        "run",
        "root",
        "etc",
        "lib/modules",
        "var/log",
        "var/run",
    ):
        arc.add_dir(d)
    arc.add_dir("tmp", 0o1777)
    # The kernel opens /dev/console for init's stdio before /init can mount devtmpfs.
    arc.add_char_device("dev/console", 5, 1, 0o600)
    arc.add_char_device("dev/null", 1, 3, 0o666)
    arc.add_char_device("dev/ttyS0", 4, 64, 0o600)
    arc.add_file("bin/busybox", busybox, 0o755)
    for applet in sorted(set(applets)):
        applet = applet.strip().lstrip("/")
        if not applet or applet == "bin/busybox" or applet in arc:
            continue
        arc.add_symlink(applet, "/bin/busybox")
    if "bin/sh" not in arc:
        arc.add_symlink("bin/sh", "/bin/busybox")


def build_initramfs(
    busybox: bytes,
    applets: list[str],
    modules: dict[str, bytes] | None = None,
    hostname: str = "demo-guest",
    banner: str = BANNER,
) -> NewcArchive:
    """The demo guest's root filesystem as a :class:`NewcArchive`.

    *applets* are busybox applet paths relative to ``/`` (``busybox --list-full``);
    *modules* maps module names (in load order) to ``.ko`` contents; *banner* is the first line
    ``/init`` prints (the installed system of the demo installer ISO prints its own).
    """
    modules = modules or {}
    arc = NewcArchive()
    add_base_system(arc, busybox, applets)
    for name, data in modules.items():
        arc.add_file(f"lib/modules/{name}.ko", data, 0o644)
    arc.add_file("init", _INIT_SCRIPT.format(banner=banner, modules=" ".join(modules)), 0o755)
    arc.add_file("etc/inittab", _INITTAB)
    arc.add_file("etc/profile", _PROFILE)
    arc.add_file("etc/hostname", hostname + "\n")
    arc.add_file("etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n")
    arc.add_file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    arc.add_file("etc/group", "root:x:0:\n")
    arc.add_file("usr/share/udhcpc/default.script", _UDHCPC_SCRIPT, 0o755)
    arc.add_file("etc/acpi/PWRF/00000080", _ACPI_POWER, 0o755)
    arc.add_file("etc/acpi/PWRB/00000080", _ACPI_POWER, 0o755)
    return arc


# --------------------------------------------------------------------------------------
# apt / dpkg helpers
# --------------------------------------------------------------------------------------


def _run(
    argv: list[str],
    what: str,
    hint: str,
    *,
    cwd: Path | None = None,
    timeout: float = _APT_TIMEOUT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=timeout, env=env, check=False)
    except FileNotFoundError as exc:
        raise DemoGuestError(f"{what} failed: {argv[0]} is not installed ({exc}). {hint}") from exc
    except subprocess.TimeoutExpired as exc:
        raise DemoGuestError(f"{what} timed out after {timeout:.0f} s. {hint}") from exc
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).decode(errors="replace").strip()
        raise DemoGuestError(f"{what} failed (exit {proc.returncode}): {err or 'no output'}. {hint}")
    return proc


def _apt_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(LC_ALL="C", LANG="C", DEBIAN_FRONTEND="noninteractive")
    return env


@dataclass(frozen=True)
class _DebRef:
    package: str
    uri: str
    filename: str
    size: int
    sha256: str

    @property
    def version(self) -> str:
        # <name>_<version>_<arch>.deb, with ':' url-encoded as %3a
        parts = self.filename[: -len(".deb")].split("_")
        return parts[1].replace("%3a", ":").replace("%3A", ":") if len(parts) >= 3 else ""


_URI_RE = re.compile(r"^'(?P<uri>[^']+)'\s+(?P<filename>\S+\.deb)\s+(?P<size>\d+)\s+(?P<hash>\S+)")
_LISTS_MISSING = re.compile(
    r"Unable to locate package|has no installation candidate|no installation candidate", re.IGNORECASE
)


def _apt_resolve(package: str) -> _DebRef:
    """Where ``apt-get download`` would fetch *package* from (offline: reads the lists)."""
    hint = "Run 'apt-get update' and retry."
    argv = ["apt-get", "download", "--print-uris", package]
    try:
        proc = _run(argv, f"apt-get download --print-uris {package}", hint, env=_apt_env())
    except DemoGuestError as exc:
        if not _LISTS_MISSING.search(str(exc)):
            raise
        # The package lists are missing or stale: refresh them once and retry.
        _run(
            ["apt-get", "update"],
            "apt-get update",
            "Check network access to the Debian mirror (and that this runs as root), then retry.",
            env=_apt_env(),
        )
        proc = _run(argv, f"apt-get download --print-uris {package}", hint, env=_apt_env())
    for line in proc.stdout.decode(errors="replace").splitlines():
        m = _URI_RE.match(line.strip())
        if m:
            digest = m["hash"]
            sha256 = digest.split(":", 1)[1].lower() if digest.upper().startswith("SHA256:") else ""
            return _DebRef(package, m["uri"], m["filename"], int(m["size"]), sha256)
    raise DemoGuestError(f"apt-get could not tell where to download {package} from (no URI in its output). {hint}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _deb_ok(path: Path, ref: _DebRef) -> bool:
    try:
        if path.stat().st_size != ref.size:
            return False
    except OSError:
        return False
    return not ref.sha256 or _sha256(path) == ref.sha256


def _apt_download(package: str, cache_dir: Path) -> tuple[Path, _DebRef]:
    """The .deb of *package* in *cache_dir*, downloading it with apt-get if needed."""
    ref = _apt_resolve(package)
    target = cache_dir / ref.filename
    if _deb_ok(target, ref):
        return target, ref
    # (As root, apt warns that it downloads unsandboxed into this 0700 directory; harmless.)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache_dir) as tmp:
        try:
            _run(
                ["apt-get", "download", package],
                f"apt-get download {package}",
                "Run 'apt-get update' and retry.",
                cwd=Path(tmp),
                env=_apt_env(),
            )
        except DemoGuestError as exc:
            if not _LISTS_MISSING.search(str(exc)) and "404" not in str(exc):
                raise
            _run(
                ["apt-get", "update"],
                "apt-get update",
                "Check network access to the Debian mirror (and that this runs as root), then retry.",
                env=_apt_env(),
            )
            ref = _apt_resolve(package)
            target = cache_dir / ref.filename
            _run(
                ["apt-get", "download", package],
                f"apt-get download {package}",
                "Run 'apt-get update' and retry.",
                cwd=Path(tmp),
                env=_apt_env(),
            )
        got = Path(tmp) / ref.filename
        if not got.exists():
            debs = sorted(Path(tmp).glob("*.deb"))
            if len(debs) != 1:
                raise DemoGuestError(
                    f"apt-get download {package} did not produce {ref.filename}. Run 'apt-get update' and retry."
                )
            got = debs[0]
        if not _deb_ok(got, ref):
            raise DemoGuestError(
                f"apt-get download {package} produced a file whose size or SHA256 "
                f"does not match the package lists ({got.name}). "
                "Run 'apt-get update' and retry."
            )
        os.chmod(got, 0o644)
        os.replace(got, target)
    return target, ref


def _deb_field(deb: Path, field: str) -> str:
    proc = _run(
        ["dpkg-deb", "-f", str(deb), field],
        f"dpkg-deb -f {deb.name} {field}",
        "The cached .deb may be corrupt: delete it from the cache directory and retry.",
    )
    return proc.stdout.decode(errors="replace").strip()


def _iter_deb_members(deb: Path) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """Stream the data members of *deb* (``dpkg-deb --fsys-tarfile``)."""
    hint = "The cached .deb may be corrupt: delete it from the cache directory and retry."
    try:
        proc = subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except FileNotFoundError as exc:
        raise DemoGuestError(f"dpkg-deb is not installed ({exc}). Install the dpkg package.") from exc
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                yield tar, member
    except tarfile.TarError as exc:
        raise DemoGuestError(f"Reading {deb.name} failed: {exc}. {hint}") from exc
    finally:
        # Drain and reap, whether or not the caller read everything.
        if proc.stdout:
            proc.stdout.close()
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    # Only reached when the caller exhausted the iterator.
    if proc.returncode not in (0, -13):  # -13: SIGPIPE after we stopped reading
        raise DemoGuestError(
            f"dpkg-deb --fsys-tarfile {deb.name} failed: {err.decode(errors='replace').strip()}. {hint}"
        )


def _extract_members(deb: Path, want) -> dict[str, bytes]:
    """Contents of the regular-file members of *deb* for which ``want(path)`` is true."""
    out: dict[str, bytes] = {}
    for tar, member in _iter_deb_members(deb):
        name = member.name.removeprefix("./")
        if member.isfile() and want(name):
            f = tar.extractfile(member)
            out[name] = f.read() if f else b""
    return out


def _modinfo_depends(ko: bytes) -> list[str]:
    m = re.search(rb"(?:^|\0)depends=([^\0]*)", ko)
    return [d for d in m.group(1).decode().split(",") if d] if m else []


# --------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # readable by libvirt's qemu user
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _recipe() -> str:
    """A fingerprint of what goes into the initramfs besides the packages: a change to the module list
    or to a script rebuilds a cached guest (the manifest's format number alone would not notice)."""
    parts = [str(BUILD_FORMAT), *INITRAMFS_MODULES, _INIT_SCRIPT, _INITTAB, _PROFILE, _UDHCPC_SCRIPT, _ACPI_POWER]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _load_existing(out_dir: Path) -> DemoGuest | None:
    """The guest already built in *out_dir*, if its outputs match its manifest."""
    manifest = out_dir / MANIFEST_NAME
    try:
        meta = json.loads(manifest.read_text())
        if meta.get("format") != BUILD_FORMAT or meta.get("cmdline") != KERNEL_CMDLINE:
            return None
        if meta.get("recipe") != _recipe():  # the module list or a file of the initramfs changed
            return None
        mtime = manifest.stat().st_mtime
        for key, name in (("kernel", KERNEL_NAME), ("initrd", INITRD_NAME)):
            st = (out_dir / name).stat()
            # Outputs are written before the manifest; anything newer was touched since.
            if st.st_size != meta[f"{key}_size"] or st.st_mtime > mtime + 1:
                return None
        return DemoGuest(
            kernel=out_dir / KERNEL_NAME,
            initrd=out_dir / INITRD_NAME,
            kernel_version=meta["kernel_version"],
            kernel_package=meta.get("kernel_package", ""),
            kernel_package_version=meta.get("kernel_package_version", ""),
            busybox_version=meta.get("busybox_version", ""),
            cmdline=meta["cmdline"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_demo_guest(out_dir: Path, cache_dir: Path | None = None, *, force: bool = False) -> DemoGuest:
    """Build (or reuse) the demo guest in *out_dir*; return its kernel and initrd.

    *out_dir* receives ``vmlinuz``, ``initrd.img`` and ``demo-guest.json`` (world
    readable).  Downloaded ``.deb`` files are kept in *cache_dir* (default:
    ``out_dir/debs``) and reused while they match the apt package lists.  When
    *out_dir* already holds a consistent build it is returned without running apt;
    pass ``force=True`` to re-resolve the packages and rebuild.

    Raises :class:`DemoGuestError` with a message saying what to do on failure.
    """
    out_dir = Path(out_dir).absolute()
    cache_dir = Path(cache_dir).absolute() if cache_dir is not None else out_dir / "debs"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoGuestError(
            f"Cannot create the demo guest directories ({exc}). Choose writable out_dir/cache_dir paths."
        ) from exc

    if not force and (guest := _load_existing(out_dir)) is not None:
        return guest

    with _locked(out_dir / ".build.lock"):
        if not force and (guest := _load_existing(out_dir)) is not None:
            return guest  # built by a concurrent caller while we waited
        with _locked(cache_dir / ".download.lock"):
            meta_deb, _ = _apt_download(KERNEL_METAPACKAGE, cache_dir)
            kernel_pkg = _kernel_package_from_metapackage(meta_deb)
            kernel_deb, kernel_ref = _apt_download(kernel_pkg, cache_dir)
            busybox_deb, busybox_ref = _apt_download(BUSYBOX_PACKAGE, cache_dir)
            _prune_cache(cache_dir, keep={meta_deb, kernel_deb, busybox_deb})

        vmlinuz, kernel_version, modules = _kernel_parts(kernel_deb)
        busybox = _busybox_binary(busybox_deb)
        applets = _busybox_applets(busybox, out_dir)
        initrd = build_initramfs(busybox, applets, modules).to_gzip()

        _atomic_write(out_dir / KERNEL_NAME, vmlinuz)
        _atomic_write(out_dir / INITRD_NAME, initrd)
        meta = {
            "format": BUILD_FORMAT,
            "kernel_version": kernel_version,
            "kernel_package": kernel_pkg,
            "kernel_package_version": kernel_ref.version,
            "busybox_version": busybox_ref.version,
            "cmdline": KERNEL_CMDLINE,
            "recipe": _recipe(),
            "modules": list(modules),
            "kernel_size": len(vmlinuz),
            "initrd_size": len(initrd),
            "kernel_sha256": hashlib.sha256(vmlinuz).hexdigest(),
            "initrd_sha256": hashlib.sha256(initrd).hexdigest(),
        }
        _atomic_write(out_dir / MANIFEST_NAME, (json.dumps(meta, indent=2) + "\n").encode())
        return DemoGuest(
            kernel=out_dir / KERNEL_NAME,
            initrd=out_dir / INITRD_NAME,
            kernel_version=kernel_version,
            kernel_package=kernel_pkg,
            kernel_package_version=kernel_ref.version,
            busybox_version=busybox_ref.version,
            cmdline=KERNEL_CMDLINE,
        )


def _prune_cache(cache_dir: Path, keep: set[Path]) -> None:
    """Drop superseded versions of our packages from the cache (it only ever grows otherwise)."""
    patterns = (f"{KERNEL_METAPACKAGE}_*.deb", "linux-image-*-cloud-amd64_*.deb", f"{BUSYBOX_PACKAGE}_*.deb")
    for pattern in patterns:
        for deb in cache_dir.glob(pattern):
            if deb not in keep:
                with contextlib.suppress(OSError):
                    deb.unlink()


def _kernel_package_from_metapackage(meta_deb: Path) -> str:
    depends = _deb_field(meta_deb, "Depends")
    for alt in re.split(r"[,|]", depends):
        name = alt.strip().split(" ", 1)[0].split(":", 1)[0]
        if re.fullmatch(r"linux-image-.+-cloud-amd64(-unsigned)?", name):
            return name
    raise DemoGuestError(
        f"{KERNEL_METAPACKAGE} does not depend on a linux-image-*-cloud-amd64 "
        f"package (Depends: {depends!r}). Run 'apt-get update' and retry."
    )


def _kernel_parts(kernel_deb: Path, names: tuple[str, ...] = INITRAMFS_MODULES) -> tuple[bytes, str, dict[str, bytes]]:
    """(vmlinuz, kernel version, {module name: .ko}) from the kernel package: the modules *names*
    and what they depend on, in load order."""
    wanted = set(names)
    modules: dict[str, bytes] = {}
    vmlinuz: bytes | None = None
    version = ""
    while True:
        need_kernel, need_modules = vmlinuz is None, wanted - set(modules)

        def want(n: str, need_kernel: bool = need_kernel, need_modules: set[str] = need_modules) -> bool:
            if n.startswith("boot/vmlinuz-"):
                return need_kernel and "/" not in n.removeprefix("boot/")
            return n.startswith("lib/modules/") and n.endswith(".ko") and n.rsplit("/", 1)[-1][:-3] in need_modules

        got = _extract_members(kernel_deb, want)
        for name, data in got.items():
            if name.startswith("boot/vmlinuz-"):
                vmlinuz, version = data, name.removeprefix("boot/vmlinuz-")
            else:
                modules[name.rsplit("/", 1)[-1][:-3]] = data
        missing_deps = {d for ko in modules.values() for d in _modinfo_depends(ko)} - set(modules)
        if not missing_deps or missing_deps <= wanted:
            break
        wanted |= missing_deps
    if vmlinuz is None:
        raise DemoGuestError(
            f"{kernel_deb.name} contains no boot/vmlinuz-*. Delete it from the cache directory and retry."
        )
    # Load order: dependencies first.
    ordered: dict[str, bytes] = {}

    def visit(name: str) -> None:
        if name in ordered or name not in modules:
            return
        for dep in _modinfo_depends(modules[name]):
            visit(dep)
        ordered[name] = modules[name]

    for name in names:
        visit(name)
    return vmlinuz, version, ordered


def _busybox_binary(busybox_deb: Path) -> bytes:
    got = _extract_members(busybox_deb, lambda n: n in ("bin/busybox", "usr/bin/busybox"))
    data = got.get("bin/busybox") or got.get("usr/bin/busybox")
    if not data:
        raise DemoGuestError(
            f"{busybox_deb.name} contains no bin/busybox. Delete it from the cache directory and retry."
        )
    return data


def _busybox_applets(busybox: bytes, work_dir: Path) -> list[str]:
    """``busybox --list-full`` of the (static, hence runnable here) binary."""
    with tempfile.TemporaryDirectory(prefix=".busybox-", dir=work_dir) as tmp:
        exe = Path(tmp) / "busybox"
        exe.write_bytes(busybox)
        exe.chmod(0o755)
        try:
            proc = _run(
                [str(exe), "--list-full"],
                "busybox --list-full",
                "The busybox-static package may be broken: delete it from the cache and retry.",
                timeout=30,
            )
        except DemoGuestError:
            # Not runnable here (e.g. noexec tmp): fall back to a minimal applet set.
            return [f"bin/{a}" for a in _FALLBACK_APPLETS] + [
                "sbin/init",
                "sbin/poweroff",
                "sbin/reboot",
                "sbin/acpid",
                "sbin/insmod",
                "sbin/halt",
            ]
    return [line.strip() for line in proc.stdout.decode().splitlines() if line.strip()]


_FALLBACK_APPLETS = (
    "sh ash cat cttyhack dmesg echo hostname ip kill ls mkdir mount mv ps rm setsid sleep "
    "sync uname umount vi grep sed cp ln free uptime df top clear stty"
).split()
