"""The sandbox's private network: each host is a network namespace linked to this machine by a veth pair.

    this machine (web, worker, watcher)            host N (namespace kvdash-hN)
    kvdash0 bridge 10.213.0.1/24  --- kvdhN ====== eth0 10.213.0.(10+N)/24, lo 127.0.0.1 (its own)

The subnet exists only between this machine and the namespaces made here; nothing outside the machine
is ever addressed. A host's loopback is its own, as on a real remote machine: a display listening on
127.0.0.1 there is out of the web server's reach except through the host's transport (SSH). Hosts reach
each other over the bridge (migration, #16). Every command gets its arguments as a list.

The lab segment: the seed's hosts carry their guests on `br0`, a bridge enslaving the NIC `em1` (seed
guide, section III). Each sandbox host gets the same: `br0` in its namespace enslaving `em1`, a veth
whose other end sits in the fleet's lab namespace, on the switch `lab0`::

    host N (kvdash-hN)                         lab (kvdash-lab<F>, F = the fleet's first host number)
    guests' taps -- br0 192.168.213.(10+n)     lab0 192.168.213.1/24, dnsmasq (DHCP .100-.199 only)
                    em1 ======================= labhN

n is the host's place in its fleet (1, 2, ...). The lab is one per fleet (several checkouts may run
fleets here at once, each with its own lab on the same private subnet, which never meet). Nothing in
the lab routes anywhere: dnsmasq hands out addresses with no router and no DNS server, and the lab
namespace has no route but its own subnet.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

BRIDGE = "kvdash0"
SUBNET_PREFIX = "10.213.0"
BRIDGE_ADDRESS = f"{SUBNET_PREFIX}.1"
PREFIX_LEN = 24
NETNS_DIR = Path("/run/netns")

LAB_BRIDGE = "lab0"  # inside the lab namespace, so the name need not be unique on the machine
LAB_SUBNET_PREFIX = "192.168.213"
LAB_ADDRESS = f"{LAB_SUBNET_PREFIX}.1"
LAB_DHCP_RANGE = (f"{LAB_SUBNET_PREFIX}.100", f"{LAB_SUBNET_PREFIX}.199")
HOST_BRIDGE = "br0"  # the seed's names (section III): br0 enslaving em1
HOST_NIC = "em1"
DNSMASQ = "dnsmasq"


class NetworkError(RuntimeError):
    pass


def host_address(index: int) -> str:
    return f"{SUBNET_PREFIX}.{10 + index}"


def netns_name(index: int) -> str:
    return f"kvdash-h{index}"


def mac_address(index: int) -> str:
    """The host's eth0 address, fixed per host: a host brought down and up again keeps its MAC, so this
    machine's neighbour table never points its address at a link that is gone (a fresh random MAC left
    connections hanging ~30 s until the stale entry expired: measured here)."""
    return f"02:6b:76:64:00:{index:02x}"


def veth_name(index: int) -> str:
    return f"kvdh{index}"  # the machine's end; the namespace's end is eth0


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise NetworkError(f"'ip {' '.join(args)}' failed: {result.stderr.strip()}")
    return result


def _link_exists(name: str) -> bool:
    return _ip("link", "show", "dev", name, check=False).returncode == 0


def netns_exists(index: int) -> bool:
    return (NETNS_DIR / netns_name(index)).exists()


def ensure_bridge() -> None:
    if not _link_exists(BRIDGE):
        _ip("link", "add", BRIDGE, "type", "bridge")
    addresses = _ip("-o", "-4", "addr", "show", "dev", BRIDGE).stdout
    if f" {BRIDGE_ADDRESS}/" not in addresses:
        _ip("addr", "add", f"{BRIDGE_ADDRESS}/{PREFIX_LEN}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")


def create_host_network(index: int) -> str:
    """The namespace of host `index`, linked and addressed; returns the host's address."""
    ensure_bridge()
    ns, veth = netns_name(index), veth_name(index)
    if netns_exists(index):
        remove_host_network(index)  # a leftover of a crash: nothing runs in it (the caller checked)
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("link", "set", veth, "master", BRIDGE, "up")
        _ip("-n", ns, "link", "set", "eth0", "address", mac_address(index))
        _ip("-n", ns, "addr", "add", f"{host_address(index)}/{PREFIX_LEN}", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
    except NetworkError:
        remove_host_network(index)
        raise
    return host_address(index)


def remove_host_network(index: int) -> None:
    """Delete the namespace (its eth0 and so the veth pair go with it), then the bridge once unused."""
    if netns_exists(index):
        _ip("netns", "delete", netns_name(index), check=False)
    if _link_exists(veth_name(index)):
        _ip("link", "delete", veth_name(index), check=False)
    remove_bridge_if_unused()


def remove_bridge_if_unused() -> None:
    if not _link_exists(BRIDGE):
        return
    members = _ip("-o", "link", "show", "master", BRIDGE, check=False).stdout.strip()
    if not members:
        _ip("link", "delete", BRIDGE, check=False)


def netns_command(index: int) -> list[str]:
    """The prefix that runs a program inside host `index`'s network namespace."""
    return ["ip", "netns", "exec", netns_name(index)]


# --- the lab segment ------------------------------------------------------------------------------
def lab_netns_name(lab: int) -> str:
    return f"kvdash-lab{lab}"


def lab_port_name(index: int) -> str:
    return f"labh{index}"  # in the lab namespace: em1's other end


def lab_host_address(position: int) -> str:
    """Host `position` (1-based in its fleet) on the lab: below the DHCP range, which starts at .100."""
    if not 1 <= position <= 80:
        raise NetworkError(f"a fleet's host {position} has no lab address (hosts 1 to 80 have one)")
    return f"{LAB_SUBNET_PREFIX}.{10 + position}"


def lab_exists(lab: int) -> bool:
    return (NETNS_DIR / lab_netns_name(lab)).exists()


def lab_netns_id(lab: int) -> int | None:
    """The identity (nsfs inode) of the namespace now named for lab `lab`, None when there is none."""
    try:
        return os.stat(NETNS_DIR / lab_netns_name(lab)).st_ino
    except OSError:
        return None


def dnsmasq_conf(state_dir: Path) -> str:
    return "\n".join(
        [
            "# The fleet's lab segment: DHCP only, written by sandbox/network.py.",
            "port=0",  # no DNS server: nothing in the lab resolves names or forwards queries outside
            f"interface={LAB_BRIDGE}",
            "bind-interfaces",
            f"dhcp-range={LAB_DHCP_RANGE[0]},{LAB_DHCP_RANGE[1]},255.255.255.0,12h",
            # Empty router and DNS options: dnsmasq would otherwise offer itself as both, and a guest
            # must get no default route (the lab is isolated; nothing leaves this machine).
            "dhcp-option=option:router",
            "dhcp-option=option:dns-server",
            "dhcp-authoritative",
            # Every address in the range is dnsmasq's to give (the hosts' own are below it): the ping
            # it would send first to find a squatter only delays each offer by ~3 s.
            "no-ping",
            "no-resolv",
            "no-hosts",
            # Its files under the fleet's state dir, so fleets and the machine's own dnsmasq never mix.
            f"dhcp-leasefile={state_dir / 'dnsmasq.leases'}",
            f"pid-file={state_dir / 'dnsmasq.pid'}",
            f"log-facility={state_dir / 'dnsmasq.log'}",
            "log-dhcp",
            # root: the state dir is root's, and dnsmasq reopens the lease file after dropping privileges.
            "user=root",
            "",
        ]
    )


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_program(pid: int, name: str) -> bool:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    # A pid reused by another program after a crash must not be mistaken for our dnsmasq.
    return os.path.basename(exe.removesuffix(" (deleted)")) == name


def dnsmasq_pid(state_dir: Path) -> int | None:
    """The lab's dnsmasq, when it runs."""
    pid = _read_pid(state_dir / "dnsmasq.pid")
    return pid if pid and _is_program(pid, DNSMASQ) else None


def ensure_lab(lab: int, state_dir: Path) -> None:
    """The lab namespace with its switch and its DHCP server, made or completed (idempotent)."""
    ns = lab_netns_name(lab)
    if not lab_exists(lab):
        _ip("netns", "add", ns)
    try:
        if _ip("-n", ns, "link", "show", "dev", LAB_BRIDGE, check=False).returncode != 0:
            _ip("-n", ns, "link", "add", LAB_BRIDGE, "type", "bridge")
        addresses = _ip("-n", ns, "-o", "-4", "addr", "show", "dev", LAB_BRIDGE).stdout
        if f" {LAB_ADDRESS}/" not in addresses:
            _ip("-n", ns, "addr", "add", f"{LAB_ADDRESS}/{PREFIX_LEN}", "dev", LAB_BRIDGE)
        _ip("-n", ns, "link", "set", LAB_BRIDGE, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
    except NetworkError:
        remove_lab(lab, state_dir)
        raise
    if dnsmasq_pid(state_dir) is None:
        _start_dnsmasq(lab, state_dir)


def _start_dnsmasq(lab: int, state_dir: Path) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    conf = state_dir / "dnsmasq.conf"
    conf.write_text(dnsmasq_conf(state_dir))
    (state_dir / "dnsmasq.pid").unlink(missing_ok=True)
    # dnsmasq forks into the background once its sockets are open and its pid file is written.
    # nsenter, not `ip netns exec`: that gives the program a copy of this machine's mounts, and with them
    # the /run/netns handles of the hosts, which would keep their namespaces (and their ports on the
    # lab) alive after `down` (seen here).
    cmd = ["nsenter", f"--net={NETNS_DIR / lab_netns_name(lab)}", DNSMASQ, f"--conf-file={conf}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise NetworkError(f"the lab's dnsmasq did not start: {result.stderr.strip() or result.returncode}")
    deadline = time.monotonic() + 5
    while dnsmasq_pid(state_dir) is None:
        if time.monotonic() > deadline:
            raise NetworkError(f"the lab's dnsmasq wrote no pid file; see {state_dir / 'dnsmasq.log'}")
        time.sleep(0.05)


def connect_host_to_lab(index: int, lab: int, position: int) -> str:
    """br0 in host `index`'s namespace, enslaving em1, linked to the lab switch; returns br0's address.

    br0 carries an address of its own, as the seed's does (its IPADDR): the host is then a neighbour on
    the segment and keeps ARP entries for its guests, where their addresses are found.
    """
    host_ns, lab_ns, port = netns_name(index), lab_netns_name(lab), lab_port_name(index)
    if _ip("-n", lab_ns, "link", "show", "dev", port, check=False).returncode == 0:
        _ip("-n", lab_ns, "link", "delete", port, check=False)  # a leftover: its host namespace is new
    _ip("-n", lab_ns, "link", "add", port, "type", "veth", "peer", "name", HOST_NIC, "netns", host_ns)
    _ip("-n", lab_ns, "link", "set", port, "master", LAB_BRIDGE, "up")
    _ip("-n", host_ns, "link", "add", HOST_BRIDGE, "type", "bridge")
    _ip("-n", host_ns, "link", "set", HOST_NIC, "master", HOST_BRIDGE, "up")
    address = lab_host_address(position)
    _ip("-n", host_ns, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", HOST_BRIDGE)
    # Learn a guest's address from its announcement (a gratuitous ARP, RFC 5227, as DHCP clients send
    # once bound): by default Linux ignores unsolicited ARP, and the host would only know the guests it
    # happened to talk with. libvirt's ARP source and the dashboard read this table.
    sysctl = ["ip", "netns", "exec", host_ns, "sysctl", "-q", "-w", f"net.ipv4.conf.{HOST_BRIDGE}.arp_accept=1"]
    result = subprocess.run(sysctl, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise NetworkError(f"could not set arp_accept on {HOST_BRIDGE}: {result.stderr.strip()}")
    _ip("-n", host_ns, "link", "set", HOST_BRIDGE, "up")
    return address


def disconnect_host_from_lab(index: int, lab: int) -> None:
    """Delete host `index`'s port on the lab (a veth: its em1 end goes with it), if there is one."""
    if lab_exists(lab):
        _ip("-n", lab_netns_name(lab), "link", "delete", lab_port_name(index), check=False)


def lab_ports(lab: int) -> list[str]:
    """The hosts' ports on the lab switch (a host's port goes when its namespace is deleted)."""
    if not lab_exists(lab):
        return []
    out = _ip("-n", lab_netns_name(lab), "-o", "link", "show", "master", LAB_BRIDGE, check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def remove_lab(lab: int, state_dir: Path, timeout: float = 5.0) -> bool:
    """Stop the lab's dnsmasq and delete its namespace (the switch goes with it); True if dnsmasq ran."""
    pid = dnsmasq_pid(state_dir)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_program(pid, DNSMASQ) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_program(pid, DNSMASQ):
            os.kill(pid, signal.SIGKILL)
    (state_dir / "dnsmasq.pid").unlink(missing_ok=True)
    if lab_exists(lab):
        _ip("netns", "delete", lab_netns_name(lab), check=False)
    return pid is not None
