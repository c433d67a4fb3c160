"""The sandbox's private network: each host is a network namespace linked to this machine by a veth pair.

    this machine (web, worker, watcher)            host N (namespace kvdash-hN)
    kvdash0 bridge 10.213.0.1/24  --- kvdhN ====== eth0 10.213.0.(10+N)/24, lo 127.0.0.1 (its own)

The subnet exists only between this machine and the namespaces made here; nothing outside the machine
is ever addressed. A host's loopback is its own, as on a real remote machine: a display listening on
127.0.0.1 there is out of the web server's reach except through the host's transport (SSH). Hosts reach
each other over the bridge (migration, #16). Every command gets its arguments as a list.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

BRIDGE = "kvdash0"
SUBNET_PREFIX = "10.213.0"
BRIDGE_ADDRESS = f"{SUBNET_PREFIX}.1"
PREFIX_LEN = 24
NETNS_DIR = Path("/run/netns")


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
