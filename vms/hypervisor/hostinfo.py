"""What a host can do, read over its libvirt connection: the facts behind 'Test connection'.

The one reader of host facts (capabilities, pools, networks, bridges). `describe_host` is the JSON
stored as Host.capabilities, by the watcher on every connect and by the host check; placement reads
that stored copy through `default_pool`. No Django here.
"""

from __future__ import annotations

import ipaddress

import libvirt
from lxml import etree

from vms.hypervisor.errors import wrap
from vms.hypervisor.uris import safe_uri


def _version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def _kvm_usable(conn: libvirt.virConnect, caps: etree._Element) -> bool:
    # libvirt lists a 'kvm' domain type for a guest arch only when /dev/kvm works.
    return bool(caps.xpath("/capabilities/guest/arch/domain[@type='kvm']"))


# --- the one reader of pools, networks and bridges -----------------------------------------------
# describe_host (stored as Host.capabilities by the watcher and by "Test connection", read by placement)
# uses them; other code that needs a pool's directory or the host's bridges should call them too rather
# than read libvirt itself (domainxml/hostcaps.py and services/templates._pool_path still do). They raise
# libvirt.libvirtError; the caller says what it was doing.


def _xml(obj: libvirt.virStoragePool | libvirt.virInterface) -> etree._Element:
    return etree.fromstring(obj.XMLDesc(0).encode())


def pool_target_path(pool: libvirt.virStoragePool) -> str:
    """The pool's directory on the host ('' when it names none)."""
    return _xml(pool).findtext("target/path") or ""


def read_pools(conn: libvirt.virConnect, *, refresh: bool = False) -> list[dict]:
    """Every storage pool: name, active; an active one also capacity, allocation, available (bytes), path.

    refresh=True re-reads each active pool's directory first (files copied in since the last refresh);
    a pool libvirt cannot refresh right now is listed as it was.
    """
    pools = []
    for pool in conn.listAllStoragePools(0):
        entry = {"name": pool.name(), "active": bool(pool.isActive())}
        if entry["active"]:
            if refresh:
                try:
                    pool.refresh(0)
                except libvirt.libvirtError:
                    pass
            _state, capacity, allocation, available = pool.info()
            entry.update({"capacity": capacity, "allocation": allocation, "available": available})
            entry["path"] = pool_target_path(pool)
        pools.append(entry)
    return pools


def _network_details(net: libvirt.virNetwork) -> dict:
    """Forward mode, subnet and DHCP range from the network's XML ('' for what it does not say)."""
    root = etree.fromstring(net.XMLDesc(0).encode())
    forward = root.find("forward")
    details = {"forward": "" if forward is None else forward.get("mode", "nat"), "subnet": "", "dhcp": ""}
    for ip in root.findall("ip"):
        if ip.get("family", "ipv4") != "ipv4" or not ip.get("address"):
            continue
        try:
            prefix = ip.get("prefix") or ip.get("netmask") or "32"
            details["subnet"] = str(ipaddress.IPv4Interface(f"{ip.get('address')}/{prefix}").network)
        except ValueError:
            details["subnet"] = ip.get("address", "")
        dhcp_range = ip.find("dhcp/range")
        if dhcp_range is not None:
            details["dhcp"] = f"{dhcp_range.get('start', '')}-{dhcp_range.get('end', '')}"
        break
    return details


def read_networks(conn: libvirt.virConnect) -> list[dict]:
    """Every libvirt network: name, active, bridge ('' for a network without one, e.g. macvtap), and
    autostart, persistent, forward ('' isolated, else libvirt's mode: nat, route, bridge...), subnet
    (IPv4 CIDR) and dhcp ('start-end'), '' when the network has none."""
    nets = []
    for net in conn.listAllNetworks(0):
        try:
            bridge = net.bridgeName()
        except libvirt.libvirtError:
            bridge = ""
        entry = {"name": net.name(), "active": bool(net.isActive()), "bridge": bridge}
        entry.update(autostart=bool(net.autostart()), persistent=bool(net.isPersistent()))
        entry.update(_network_details(net))
        nets.append(entry)
    return nets


def read_bridges(conn: libvirt.virConnect) -> list[str] | None:
    """The host's bridge interfaces, sorted; None when the host cannot tell (no interface driver)."""
    try:
        return sorted(iface.name() for iface in conn.listAllInterfaces(0) if _xml(iface).get("type") == "bridge")
    except libvirt.libvirtError:
        return None  # the interface driver is optional (netcf); no list is not an error


# --- readers of a stored description (Host.capabilities), no libvirt --------------------------------
def active_pools(facts: dict) -> list[dict]:
    return [p for p in facts.get("pools", []) if p.get("active")]


def default_pool(facts: dict) -> dict | None:
    """The pool new disks go to: the active pool named 'default', else the first active one."""
    pools = active_pools(facts)
    return next((p for p in pools if p.get("name") == "default"), pools[0] if pools else None)


def describe_host(conn: libvirt.virConnect) -> dict:
    """A JSON-able summary of the host, stored as Host.capabilities."""
    where = safe_uri(conn.getURI())
    try:
        caps = etree.fromstring(conn.getCapabilities())
        model, memory_mib, cpus, _mhz, _nodes, _sockets, _cores, _threads = conn.getInfo()
        facts = {
            "hostname": conn.getHostname(),
            "libvirt_version": _version(conn.getLibVersion()),
            "hypervisor": conn.getType(),
            "hypervisor_version": _version(conn.getVersion()),
            "arch": caps.findtext("host/cpu/arch") or model,
            "cpus": cpus,
            "memory_mib": memory_mib,
            "free_memory_mib": conn.getFreeMemory() // (1024 * 1024),
            "kvm": _kvm_usable(conn, caps),
            "emulators": sorted(set(caps.xpath("/capabilities/guest/arch/emulator/text()"))),
            "machines": sorted(set(caps.xpath("/capabilities/guest/arch[@name='x86_64']/machine/text()"))),
            "pools": read_pools(conn),
            "networks": read_networks(conn),
        }
        bridges = read_bridges(conn)
        # [] is also "no interface driver": placement refuses a host for a missing bridge only when known.
        facts.update(bridges=bridges or [], bridges_known=bridges is not None)
    except libvirt.libvirtError as exc:
        raise wrap(exc, "read the host's capabilities", where) from exc
    return facts
