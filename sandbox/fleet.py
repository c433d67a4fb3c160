"""The sandbox fleet: N real libvirtd hosts on this machine, each in its own mount namespace.

Each host gets private /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt and
/run/libvirt (bind mounts that exist only inside its namespace), its own virtlogd, and a libvirtd
listening on qemu+tcp://127.0.0.1N:PORT/system, loopback only. No Django imports: the management
command `sandbox` and the tests drive this module.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import libvirt

from vms.hypervisor.connection import open_connection
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.storage import ensure_dir_pool, upload_file

BASE_PORT = 16600
POOL_NAME = "default"
POOL_PATH = "/var/lib/libvirt/images"
# Directories every host sees as its own; the key is the folder under the host's state dir.
PRIVATE_DIRS = {
    "etc": "/etc/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
    "run": "/run/libvirt",
}
# Mounts the private dirs, then starts the daemons. Paths arrive as arguments, never pasted in.
_START_SCRIPT = r"""
set -e
state="$1"; shift
while [ "$#" -gt 0 ]; do
  mount --bind "$state/$1" "$2"
  shift 2
done
virtlogd -d -p "$state/virtlogd.pid"
exec libvirtd -d --listen --config "$state/etc/libvirtd.conf" --pid-file "$state/libvirtd.pid"
"""

Report = Callable[[str], None]


class SandboxError(RuntimeError):
    pass


@dataclass(frozen=True)
class SandboxHost:
    index: int
    state_dir: Path

    @property
    def name(self) -> str:
        return f"sandbox-{self.index}"

    @property
    def address(self) -> str:
        return f"127.0.0.1{self.index}"

    @property
    def port(self) -> int:
        return BASE_PORT + self.index

    @property
    def uri(self) -> str:
        return f"qemu+tcp://{self.address}:{self.port}/system"

    def pidfile(self, daemon: str) -> Path:
        return self.state_dir / f"{daemon}.pid"


@dataclass(frozen=True)
class HostStatus:
    host: SandboxHost
    pids: dict[str, int]
    answers: bool
    error: str = ""

    def line(self) -> str:
        state = "answers" if self.answers else f"does not answer{': ' + self.error if self.error else ''}"
        return f"{self.host.name}  {self.host.uri}  {state}"


def _pid_alive(pid: int, name: str) -> bool:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    # A pid reused by another program after a crash must not be mistaken for our daemon.
    if not os.path.basename(exe.removesuffix(" (deleted)")) == name:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _mount_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _pids_in_ns(ns: str) -> list[int]:
    own = _mount_ns(os.getpid())
    if ns == own:  # never sweep our own namespace
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _mount_ns(int(entry)) == ns:
            pids.append(int(entry))
    return pids


def _port_open(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def libvirtd_conf(host: SandboxHost) -> str:
    return "\n".join(
        [
            "listen_tcp = 1",
            "listen_tls = 0",
            'auth_tcp = "none"',
            f'listen_addr = "{host.address}"',
            f'tcp_port = "{host.port}"',
            'unix_sock_dir = "/run/libvirt"',
            'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"',
            "",
        ]
    )


def qemu_conf(host: SandboxHost) -> str:
    # Without user/group root libvirt 9.0 re-probes QEMU for ~44 s on every define here.
    # Distinct display port ranges keep VNC/SPICE ports of different hosts apart.
    display_min = 5900 + (host.index - 1) * 100
    return "\n".join(
        [
            'user = "root"',
            'group = "root"',
            "namespaces = [ ]",
            'security_driver = "none"',
            'vnc_listen = "127.0.0.1"',
            'spice_listen = "127.0.0.1"',
            f"remote_display_port_min = {display_min}",
            f"remote_display_port_max = {display_min + 99}",
            f"remote_websocket_port_min = {5700 + (host.index - 1) * 10}",
            f"remote_websocket_port_max = {5709 + (host.index - 1) * 10}",
            f"migration_port_min = {49152 + (host.index - 1) * 64}",
            f"migration_port_max = {49215 + (host.index - 1) * 64}",
            "",
        ]
    )


class SandboxFleet:
    def __init__(self, root: Path, report: Report = lambda _msg: None, first_index: int = 1) -> None:
        self.root = root
        self.report = report
        # Hosts are numbered from first_index; tests use a high one to run a fleet of their own.
        self.first_index = first_index

    def host(self, n: int) -> SandboxHost:
        """The n-th host of this fleet (1-based)."""
        return self._host(self.first_index + n - 1)

    def hosts(self, count: int) -> list[SandboxHost]:
        return [self.host(n) for n in range(1, count + 1)]

    def _host(self, index: int) -> SandboxHost:
        return SandboxHost(index, self.root / f"host{index}")

    def known_hosts(self) -> list[SandboxHost]:
        if not self.root.exists():
            return []
        indexes = sorted(int(p.name[4:]) for p in self.root.glob("host*") if p.name[4:].isdigit())
        return [self._host(i) for i in indexes]

    # --- up -------------------------------------------------------------------------------
    def up(self, count: int, files: dict[str, Path] | None = None) -> list[HostStatus]:
        """Start `count` hosts (those already running are left alone) and prepare each one."""
        if not 1 <= count <= 50 or self.first_index + count - 1 > 55:
            raise SandboxError("The sandbox runs between 1 and 50 hosts, numbered 1 to 55.")
        self._check_requirements()
        statuses = []
        for host in self.hosts(count):
            self._start(host)
            self._wait_answering(host)
            self._prepare(host, files or {})
            statuses.append(self.status_of(host))
        return statuses

    def _check_requirements(self) -> None:
        if os.geteuid() != 0:
            raise SandboxError("The sandbox fleet needs root (it uses mount namespaces); run it as root.")
        missing = [
            b for b in ("libvirtd", "virtlogd", "unshare", "nsenter", "qemu-system-x86_64") if not shutil.which(b)
        ]
        if missing:
            raise SandboxError(
                f"Missing programs: {', '.join(missing)}. Run 'make setup' (it installs libvirt and QEMU)."
            )

    def _write_config(self, host: SandboxHost) -> None:
        for sub in PRIVATE_DIRS:
            (host.state_dir / sub).mkdir(parents=True, exist_ok=True)
        (host.state_dir / "lib" / "images").mkdir(exist_ok=True)
        (host.state_dir / "etc" / "libvirtd.conf").write_text(libvirtd_conf(host))
        (host.state_dir / "etc" / "qemu.conf").write_text(qemu_conf(host))

    def _start(self, host: SandboxHost) -> None:
        libvirtd_pid = _read_pid(host.pidfile("libvirtd"))
        if libvirtd_pid and _pid_alive(libvirtd_pid, "libvirtd"):
            self.report(f"{host.name}: already running (libvirtd pid {libvirtd_pid})")
            return
        if _port_open(host.address, host.port):
            raise SandboxError(
                f"{host.name}: something else already listens on {host.address}:{host.port} (the sandbox fleet "
                "of another checkout?). Stop it with its own 'manage.py sandbox down', or give this checkout "
                "other addresses with SANDBOX_FIRST_INDEX (e.g. 21)."
            )
        self._write_config(host)
        for target in PRIVATE_DIRS.values():
            Path(target).mkdir(parents=True, exist_ok=True)  # bind-mount targets must exist
        virtlogd_pid = _read_pid(host.pidfile("virtlogd"))
        if virtlogd_pid and _pid_alive(virtlogd_pid, "virtlogd"):
            # libvirtd died but its namespace (virtlogd, guests) lives on: start it there again,
            # so it finds its running guests, as a real host's daemon does after a restart.
            cmd = [
                "nsenter",
                f"--mount=/proc/{virtlogd_pid}/ns/mnt",
                "libvirtd",
                "-d",
                "--listen",
                "--config",
                str(host.state_dir / "etc" / "libvirtd.conf"),
                "--pid-file",
                str(host.pidfile("libvirtd")),
            ]
            self.report(f"{host.name}: restarting libvirtd in its namespace")
        else:
            mounts: list[str] = []
            for sub, target in PRIVATE_DIRS.items():
                mounts += [sub, target]
            cmd = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                _START_SCRIPT,
                "sandbox-host",
                str(host.state_dir),
                *mounts,
            ]
            self.report(f"{host.name}: starting libvirtd on {host.uri}")
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise SandboxError(f"{host.name}: could not start libvirtd: {result.stderr.strip() or result.returncode}")
        pid = _read_pid(host.pidfile("libvirtd"))
        ns = _mount_ns(pid) if pid else None
        (host.state_dir / "host.json").write_text(json.dumps({"uri": host.uri, "mount_ns": ns}))

    def _wait_answering(self, host: SandboxHost, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _port_open(host.address, host.port):
                return
            time.sleep(0.1)
        log = host.state_dir / "log" / "libvirtd.log"
        raise SandboxError(f"{host.name}: libvirtd did not answer on {host.uri} within {timeout:.0f} s; see {log}.")

    def _prepare(self, host: SandboxHost, files: dict[str, Path]) -> None:
        conn = open_connection(host.uri)
        try:
            ensure_dir_pool(conn, POOL_NAME, POOL_PATH)
            for vol_name, path in files.items():
                upload_file(conn, POOL_NAME, vol_name, path)
            if files:
                self.report(f"{host.name}: installed {', '.join(files)} into pool '{POOL_NAME}'")
        finally:
            conn.close()

    # --- status ---------------------------------------------------------------------------
    def status_of(self, host: SandboxHost) -> HostStatus:
        pids = {}
        for daemon in ("libvirtd", "virtlogd"):
            pid = _read_pid(host.pidfile(daemon))
            if pid and _pid_alive(pid, daemon):
                pids[daemon] = pid
        if not _port_open(host.address, host.port):
            return HostStatus(host, pids, False, "connection refused")
        try:
            conn = open_connection(host.uri)
            conn.getLibVersion()
            conn.close()
            return HostStatus(host, pids, True)
        except (HypervisorError, libvirt.libvirtError) as exc:
            return HostStatus(host, pids, False, str(exc))

    def status(self) -> list[HostStatus]:
        return [self.status_of(h) for h in self.known_hosts()]

    def running(self) -> bool:
        """Whether any process that `up` started for this fleet's hosts is still alive."""
        return any(self._processes_of(host) for host in self.known_hosts())

    # --- down -----------------------------------------------------------------------------
    def down(self, timeout: float = 15.0) -> list[str]:
        """Stop every process `up` started (daemons by pid, their guests by namespace)."""
        stopped = []
        for host in self.known_hosts():
            victims = self._processes_of(host)
            if not victims:
                continue
            self._terminate(victims, timeout)
            stopped.append(f"{host.name}: stopped {len(victims)} process(es)")
            for daemon in ("libvirtd", "virtlogd"):
                host.pidfile(daemon).unlink(missing_ok=True)
        return stopped

    def kill_libvirtd(self, n: int) -> int | None:
        """Kill the n-th host's libvirtd only (guests and virtlogd stay), as a crash would. For tests."""
        host = self.host(n)
        pid = _read_pid(host.pidfile("libvirtd"))
        if pid and _pid_alive(pid, "libvirtd"):
            os.kill(pid, signal.SIGKILL)
            return pid
        return None

    def _processes_of(self, host: SandboxHost) -> list[int]:
        pids = set()
        namespaces = set()
        for daemon in ("libvirtd", "virtlogd"):
            pid = _read_pid(host.pidfile(daemon))
            if pid and _pid_alive(pid, daemon):
                pids.add(pid)
                namespaces.add(_mount_ns(pid))
        try:
            recorded = json.loads((host.state_dir / "host.json").read_text()).get("mount_ns")
        except (OSError, ValueError):
            recorded = None
        if recorded:
            namespaces.add(recorded)
        for ns in namespaces - {None}:
            pids.update(_pids_in_ns(ns))
        return sorted(pids)

    @staticmethod
    def _terminate(pids: list[int], timeout: float) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = [p for p in pids if os.path.exists(f"/proc/{p}") and _state(p) != "Z"]
            if not alive:
                return
            time.sleep(0.1)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0]
    except OSError:
        return "X"
