"""The sandbox fleet: N real libvirtd hosts on this machine, each behaving like a remote machine.

Each host has its own network namespace (sandbox/network.py: an address on a private subnet, a
loopback of its own) and its own mount namespace: private /etc/libvirt, /var/lib/libvirt,
/var/cache/libvirt, /var/log/libvirt and /run/libvirt (bind mounts that exist only inside it). In them
run its virtlogd, its libvirtd (TCP on 16509 and TLS on 16514, at the host's address) and its sshd (port
22, its own config and host key, the project's public key authorized for root). The dashboard reaches
host N as qemu+ssh://root@10.213.0.(10+N)/system; `tcp_uri` and `tls_uri` are the other transports.
Guests reach each other on the fleet's lab segment: each host's br0 (the seed's bridge) is linked to a
switch in a namespace of the fleet's own, where dnsmasq hands out addresses (sandbox/network.py).
No Django imports: the management command `sandbox` and the tests drive this module.
"""

from __future__ import annotations

import ipaddress
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

from sandbox import network
from sandbox.pki import SandboxCA
from vms.hypervisor import networks as libvirt_networks
from vms.hypervisor import ssh
from vms.hypervisor.connection import open_connection
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.storage import ensure_dir_pool, upload_file

TCP_PORT = 16509
TLS_PORT = 16514
SSH_PORT = 22
LAST_INDEX = 244
POOL_NAME = "default"
POOL_PATH = "/var/lib/libvirt/images"
# libvirt's stock NAT network, as a Debian host has it (libvirt-daemon-config-network): its dnsmasq
# hands demo guests an address their page shows. Each host has its own network namespace, so every
# host may use the same subnet without meeting the others.
NAT_NETWORK = "default"
NAT_SUBNET = ipaddress.IPv4Network("192.168.122.0/24")
# Directories every host sees as its own; the key is the folder under the host's state dir.
PRIVATE_DIRS = {
    "etc": "/etc/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
    "run": "/run/libvirt",
}
# Runs inside the host's network namespace, in a new mount namespace: mounts the private dirs, then
# starts the daemons. Paths arrive as arguments, never pasted in.
_START_SCRIPT = r"""
set -e
state="$1"; shift
# This mount namespace is a copy of the machine's: let go of the other namespaces' /run/netns handles,
# or this host would keep the others (and the lab) alive after they are deleted.
for handle in /run/netns/*; do umount -l "$handle" 2>/dev/null || true; done
while [ "$#" -gt 0 ]; do
  mount --bind "$state/$1" "$2"
  shift 2
done
virtlogd -d -p "$state/virtlogd.pid"
/usr/sbin/sshd -f "$state/ssh/sshd_config" -E "$state/ssh/sshd.log"
exec libvirtd -d --listen --config "$state/etc/libvirtd.conf" --pid-file "$state/libvirtd.pid"
"""
DAEMONS = ("libvirtd", "virtlogd", "sshd")

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
        return network.host_address(self.index)

    @property
    def uri(self) -> str:
        """How the dashboard registers the host: SSH, as a real fleet's hosts are reached."""
        return f"qemu+ssh://root@{self.address}/system"

    @property
    def tcp_uri(self) -> str:
        return f"qemu+tcp://{self.address}/system"

    def tls_uri(self, pki_dir: Path) -> str:
        return f"qemu+tls://{self.address}/system?pkipath={pki_dir}"

    @property
    def ssh_dir(self) -> Path:
        return self.state_dir / "ssh"

    @property
    def host_key_file(self) -> Path:
        return self.ssh_dir / "ssh_host_ed25519_key"

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


def libvirtd_conf(host: SandboxHost, pki: Path) -> str:
    return "\n".join(
        [
            "listen_tcp = 1",
            "listen_tls = 1",
            'auth_tcp = "none"',
            'auth_tls = "none"',  # the client certificate, signed by the sandbox CA, is the credential
            f'listen_addr = "{host.address}"',
            f'tcp_port = "{TCP_PORT}"',
            f'tls_port = "{TLS_PORT}"',
            f'ca_file = "{pki / "cacert.pem"}"',
            f'cert_file = "{host.state_dir / "pki" / "servercert.pem"}"',
            f'key_file = "{host.state_dir / "pki" / "serverkey.pem"}"',
            'unix_sock_dir = "/run/libvirt"',
            'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"',
            "",
        ]
    )


def sshd_config(host: SandboxHost) -> str:
    return "\n".join(
        [
            f"ListenAddress {host.address}",
            f"Port {SSH_PORT}",
            f"HostKey {host.host_key_file}",
            f"AuthorizedKeysFile {host.ssh_dir / 'authorized_keys'}",
            f"PidFile {host.state_dir / 'sshd.pid'}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "UseDNS no",
            # The state dir is not a home directory with ssh's expected modes.
            "StrictModes no",
            # Tests open many connections at once (one per libvirt connection, one per console tunnel).
            "MaxStartups 200",
            "MaxSessions 100",
            "AllowTcpForwarding local",
            "X11Forwarding no",
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


def ensure_nat_network(conn: libvirt.virConnect) -> None:
    """The host's `default` NAT network defined, started and on autostart; idempotent (a host brought up
    again keeps its network, and one an admin stopped is started again)."""
    if libvirt_networks.find_network(conn, NAT_NETWORK) is None:
        xml = libvirt_networks.network_xml(NAT_NETWORK, "nat", subnet=NAT_SUBNET, dhcp=True)
        libvirt_networks.define_and_start(conn, xml, NAT_NETWORK)
        return
    libvirt_networks.start(conn, NAT_NETWORK)
    libvirt_networks.set_autostart(conn, NAT_NETWORK, True)


class SandboxFleet:
    def __init__(
        self,
        root: Path,
        report: Report = lambda _msg: None,
        first_index: int = 1,
        identity: ssh.SshIdentity | None = None,
    ) -> None:
        self.root = root
        self.report = report
        # Hosts are numbered from first_index; tests use a high one to run a fleet of their own.
        self.first_index = first_index
        # Whose key the hosts' sshd accept, and where their host keys are pinned: the process's own.
        self.identity = identity or ssh.identity()
        self.ca = SandboxCA(root / "pki" / "ca")
        self.client_pki = root / "pki" / "client"

    def tls_uri(self, host: SandboxHost) -> str:
        return host.tls_uri(self.client_pki)

    # --- the lab segment (one per fleet, named by its first host number) ------------------------
    @property
    def lab(self) -> int:
        return self.first_index

    @property
    def lab_dir(self) -> Path:
        return self.root / "lab"

    def lab_address(self, host: SandboxHost) -> str:
        """The host's own address on the lab (on its br0)."""
        return network.lab_host_address(host.index - self.first_index + 1)

    def _owns_lab(self) -> bool:
        try:
            recorded = json.loads((self.lab_dir / "lab.json").read_text()).get("netns")
        except (OSError, ValueError):
            return False
        if recorded is None or recorded != network.lab_netns_id(self.lab):
            return False
        # An id may name another checkout's lab since (see _processes_of): its dnsmasq names its own files.
        holders = _netns_pids_of(network.NETNS_DIR / network.lab_netns_name(self.lab))
        return not holders or any(_names(pid, self.lab_dir) for pid in holders)

    def _ensure_lab(self) -> None:
        if network.lab_exists(self.lab) and not self._owns_lab():
            holders = _netns_pids_of(network.NETNS_DIR / network.lab_netns_name(self.lab))
            if holders:
                raise SandboxError(
                    f"The lab namespace {network.lab_netns_name(self.lab)} belongs to another checkout's "
                    "sandbox fleet; give this checkout other hosts with SANDBOX_FIRST_INDEX (e.g. 21)."
                )
        self.lab_dir.mkdir(parents=True, exist_ok=True)
        try:
            network.ensure_lab(self.lab, self.lab_dir)
        except network.NetworkError as exc:
            raise SandboxError(f"could not make the lab network: {exc}") from exc
        (self.lab_dir / "lab.json").write_text(json.dumps({"netns": network.lab_netns_id(self.lab)}))

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
        # Host N's address is 10.213.0.(10+N): the /24 ends at .254, so N ends at LAST_INDEX.
        if not 1 <= count <= 50 or self.first_index < 1 or self.first_index + count - 1 > LAST_INDEX:
            raise SandboxError(f"The sandbox runs between 1 and 50 hosts, numbered 1 to {LAST_INDEX}.")
        self._check_requirements()
        self._ensure_lab()
        statuses = []
        for host in self.hosts(count):
            self._start(host)
            self._wait_answering(host)
            self._prepare(host, files or {})
            statuses.append(self.status_of(host))
        return statuses

    def _check_requirements(self) -> None:
        if os.geteuid() != 0:
            raise SandboxError("The sandbox fleet needs root (it uses network and mount namespaces); run it as root.")
        programs = ("libvirtd", "virtlogd", "unshare", "nsenter", "ip", "qemu-system-x86_64", "ssh-keygen", "dnsmasq")
        missing = [b for b in programs if not shutil.which(b)]
        if not Path("/usr/sbin/sshd").exists():
            missing.append("sshd")
        if missing:
            raise SandboxError(
                f"Missing programs: {', '.join(missing)}. Run 'make setup' (it installs libvirt, QEMU, openssh "
                "and dnsmasq)."
            )
        if self.identity is None:
            raise SandboxError("No SSH identity: the sandbox hosts would not know whose key to accept.")

    def _write_config(self, host: SandboxHost) -> None:
        for sub in PRIVATE_DIRS:
            (host.state_dir / sub).mkdir(parents=True, exist_ok=True)
        (host.state_dir / "lib" / "images").mkdir(exist_ok=True)
        self.ca.issue(self.client_pki, "kvm-dashboard")
        self.ca.issue(host.state_dir / "pki", host.address, server_ip=host.address)
        (host.state_dir / "etc" / "libvirtd.conf").write_text(libvirtd_conf(host, self.client_pki))
        (host.state_dir / "etc" / "qemu.conf").write_text(qemu_conf(host))
        host.ssh_dir.mkdir(mode=0o700, exist_ok=True)
        if not host.host_key_file.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(host.host_key_file)],
                check=True,
                capture_output=True,
                timeout=30,
            )
        (host.ssh_dir / "sshd_config").write_text(sshd_config(host))
        assert self.identity is not None
        (host.ssh_dir / "authorized_keys").write_text(self.identity.public_key() + "\n")

    def pin_host_key(self, host: SandboxHost) -> None:
        """Trust the host key the sandbox made itself: it is known by construction, not on first use."""
        assert self.identity is not None
        key_type, key = Path(f"{host.host_key_file}.pub").read_text().split()[:2]
        ssh.pin(self.identity, ssh.HostKey(host.address, SSH_PORT, key_type, key))

    def _start(self, host: SandboxHost) -> None:
        libvirtd_pid = _read_pid(host.pidfile("libvirtd"))
        if libvirtd_pid and _pid_alive(libvirtd_pid, "libvirtd"):
            self.report(f"{host.name}: already running (libvirtd pid {libvirtd_pid})")
            self._write_config(host)  # the project's key may be new (a fresh var/ssh)
            self.pin_host_key(host)
            return
        virtlogd_pid = _read_pid(host.pidfile("virtlogd"))
        if virtlogd_pid and _pid_alive(virtlogd_pid, "virtlogd"):
            self._write_config(host)
            self._restart_libvirtd(host, virtlogd_pid)
        else:
            self._start_fresh(host)
        self.pin_host_key(host)
        pid = _read_pid(host.pidfile("libvirtd"))
        record = {"uri": host.uri, "mount_ns": _mount_ns(pid) if pid else None, "netns": _netns_id(host.index)}
        (host.state_dir / "host.json").write_text(json.dumps(record))

    def _owns_netns(self, host: SandboxHost) -> bool:
        """Whether the namespace named for this host is the one this fleet made (not another checkout's)."""
        try:
            recorded = json.loads((host.state_dir / "host.json").read_text()).get("netns")
        except (OSError, ValueError):
            return False
        if recorded is None or recorded != _netns_id(host.index):
            return False
        # The same id may have been given to another checkout's namespace since (see _processes_of).
        holders = _netns_pids(host.index)
        return not holders or any(_names(pid, host.state_dir) for pid in holders)

    def _start_fresh(self, host: SandboxHost) -> None:
        if network.netns_exists(host.index):
            holders = _netns_pids(host.index)
            if holders:
                raise SandboxError(
                    f"{host.name}: the network namespace {network.netns_name(host.index)} is in use by "
                    f"{len(holders)} process(es) of another checkout's sandbox fleet? Stop it with its own "
                    "'manage.py sandbox down', or give this checkout other hosts with SANDBOX_FIRST_INDEX (e.g. 21)."
                )
        self._write_config(host)
        for target in PRIVATE_DIRS.values():
            Path(target).mkdir(parents=True, exist_ok=True)  # bind-mount targets must exist
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        try:
            network.create_host_network(host.index)
            network.connect_host_to_lab(host.index, self.lab, host.index - self.first_index + 1)
        except network.NetworkError as exc:
            raise SandboxError(f"{host.name}: could not make its network: {exc}") from exc
        mounts: list[str] = []
        for sub, target in PRIVATE_DIRS.items():
            mounts += [sub, target]
        cmd = [
            *network.netns_command(host.index),
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
        self.report(f"{host.name}: starting sshd and libvirtd at {host.address} ({host.uri})")
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            detail = result.stderr.strip() or result.returncode
            raise SandboxError(f"{host.name}: could not start its daemons: {detail}")

    def _restart_libvirtd(self, host: SandboxHost, virtlogd_pid: int) -> None:
        # libvirtd died but its namespaces (virtlogd, sshd, guests) live on: start it there again, so it
        # finds its running guests, as a real host's daemon does after a restart.
        enter = ["nsenter", f"--mount=/proc/{virtlogd_pid}/ns/mnt", f"--net=/proc/{virtlogd_pid}/ns/net"]
        cmd = [
            *enter,
            "libvirtd",
            "-d",
            "--listen",
            "--config",
            str(host.state_dir / "etc" / "libvirtd.conf"),
            "--pid-file",
            str(host.pidfile("libvirtd")),
        ]
        self.report(f"{host.name}: restarting libvirtd in its namespace")
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise SandboxError(f"{host.name}: could not restart libvirtd: {result.stderr.strip() or result.returncode}")
        sshd_pid = _read_pid(host.pidfile("sshd"))
        if not (sshd_pid and _pid_alive(sshd_pid, "sshd")):
            sshd = ["/usr/sbin/sshd", "-f", str(host.ssh_dir / "sshd_config"), "-E", str(host.ssh_dir / "sshd.log")]
            subprocess.run([*enter, *sshd], capture_output=True, text=True, timeout=60, check=False)

    def _wait_answering(self, host: SandboxHost, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _port_open(host.address, TCP_PORT) and _port_open(host.address, SSH_PORT):
                return
            time.sleep(0.1)
        log = host.state_dir / "log" / "libvirtd.log"
        raise SandboxError(
            f"{host.name}: libvirtd or sshd did not answer at {host.address} within {timeout:.0f} s; see {log} "
            f"and {host.ssh_dir / 'sshd.log'}."
        )

    def _prepare(self, host: SandboxHost, files: dict[str, Path]) -> None:
        # Over TCP: set-up is the sandbox's own business, and the SSH path is checked by status_of.
        conn = open_connection(host.tcp_uri)
        try:
            ensure_dir_pool(conn, POOL_NAME, POOL_PATH)
            try:
                ensure_nat_network(conn)
            except HypervisorError as exc:  # the fleet still works; guests on `default` do not start
                self.report(f"{host.name}: no NAT network '{NAT_NETWORK}': {exc}")
            for vol_name, path in files.items():
                upload_file(conn, POOL_NAME, vol_name, path)
            if files:
                self.report(f"{host.name}: installed {', '.join(files)} into pool '{POOL_NAME}'")
        finally:
            conn.close()

    def virsh_uri(self, host: SandboxHost) -> str:
        """The host's URI in a form any libvirt client here takes as is (`virsh -c`): `command=` the
        project's ssh wrapper (its key and known_hosts; plain ssh would read root's ~/.ssh instead)."""
        return ssh.transport_uri(host.uri, self.identity)

    # --- status ---------------------------------------------------------------------------
    def status_of(self, host: SandboxHost) -> HostStatus:
        pids = {}
        for daemon in DAEMONS:
            pid = _read_pid(host.pidfile(daemon))
            if pid and _pid_alive(pid, daemon):
                pids[daemon] = pid
        if not _port_open(host.address, SSH_PORT):
            return HostStatus(host, pids, False, "connection refused")
        try:
            conn = open_connection(ssh.transport_uri(host.uri, self.identity))
            conn.getLibVersion()
            conn.close()
            return HostStatus(host, pids, True)
        except (HypervisorError, libvirt.libvirtError) as exc:
            return HostStatus(host, pids, False, str(exc))

    def status(self) -> list[HostStatus]:
        return [self.status_of(h) for h in self.known_hosts()]

    def running(self) -> bool:
        """Whether any process that `up` started for this fleet (hosts, the lab's dnsmasq) is still alive."""
        if self._owns_lab() and network.dnsmasq_pid(self.lab_dir) is not None:
            return True
        return any(self._processes_of(host) for host in self.known_hosts())

    # --- down -----------------------------------------------------------------------------
    def down(self, timeout: float = 15.0) -> list[str]:
        """Stop every process `up` started (daemons by pid, their guests by namespace)."""
        stopped = []
        for host in self.known_hosts():
            victims = self._processes_of(host)
            if victims:
                self._terminate(victims, timeout)
                stopped.append(f"{host.name}: stopped {len(victims)} process(es)")
            for daemon in DAEMONS:
                host.pidfile(daemon).unlink(missing_ok=True)
            if self._owns_netns(host):
                network.remove_host_network(host.index)
            if self._owns_lab():
                # The host's port on the lab goes with its namespace, but only once the kernel has let go
                # of that namespace, which here sometimes never happened: take the port away ourselves.
                network.disconnect_host_from_lab(host.index, self.lab)
        network.remove_bridge_if_unused()
        # The lab goes with the fleet's last host.
        if self._owns_lab() and not network.lab_ports(self.lab):
            if network.remove_lab(self.lab, self.lab_dir):
                stopped.append(f"lab {network.lab_netns_name(self.lab)}: stopped dnsmasq")
            (self.lab_dir / "lab.json").unlink(missing_ok=True)
        return stopped

    def kill_libvirtd(self, n: int) -> int | None:
        """Kill the n-th host's libvirtd only (guests and virtlogd stay), as a crash would. For tests."""
        host = self.host(n)
        pid = _read_pid(host.pidfile("libvirtd"))
        if pid and _pid_alive(pid, "libvirtd"):
            os.kill(pid, signal.SIGKILL)
            return pid
        return None

    def replace_host_key(self, n: int) -> None:
        """Give the n-th host a new SSH host key, as a reinstall (or an impostor) would; the pinned one
        stays. sshd re-reads its keys on SIGHUP. For tests of host key pinning."""
        host = self.host(n)
        for path in (host.host_key_file, Path(f"{host.host_key_file}.pub")):
            path.unlink(missing_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(host.host_key_file)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        pid = _read_pid(host.pidfile("sshd"))
        if not (pid and _pid_alive(pid, "sshd")):
            raise SandboxError(f"{host.name}: sshd is not running")
        os.kill(pid, signal.SIGHUP)
        time.sleep(0.5)  # sshd re-executes itself before it listens again
        self._wait_answering(host, timeout=10)

    def _processes_of(self, host: SandboxHost) -> list[int]:
        # Namespace ids are inode numbers, which the kernel hands out again: a recorded id may now name
        # another checkout's host (seen here: a `down` stopped another run's fleet). A namespace is ours
        # only while a process in it names our state dir on its command line (our daemons all do).
        pids = set()
        namespaces = set()
        if self._owns_netns(host):
            pids.update(_netns_pids(host.index))
        for daemon in DAEMONS:
            pid = _read_pid(host.pidfile(daemon))
            if pid and _pid_alive(pid, daemon) and _names(pid, host.state_dir):
                pids.add(pid)
                namespaces.add(_mount_ns(pid))
        try:
            recorded = json.loads((host.state_dir / "host.json").read_text()).get("mount_ns")
        except (OSError, ValueError):
            recorded = None
        if recorded and any(_names(pid, host.state_dir) for pid in _pids_in_ns(recorded)):
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


def _names(pid: int, path: Path) -> bool:
    """Whether the process's command line mentions `path` (our daemons get their state dir's files)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return str(path).encode() in fh.read()
    except OSError:
        return False


def _netns_id(index: int) -> int | None:
    """The identity (nsfs inode) of the namespace now named for host `index`, None when there is none."""
    try:
        return os.stat(network.NETNS_DIR / network.netns_name(index)).st_ino
    except OSError:
        return None


def _netns_pids(index: int) -> list[int]:
    return _netns_pids_of(network.NETNS_DIR / network.netns_name(index))


def _netns_pids_of(path: Path) -> list[int]:
    """The processes in the named network namespace at `path` (none when it does not exist)."""
    try:
        ns = os.stat(path).st_ino
    except OSError:
        return []
    own = os.stat(f"/proc/{os.getpid()}/ns/net").st_ino
    if ns == own:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino == ns:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0]
    except OSError:
        return "X"
