"""What a host can do, read over its libvirt connection: the facts behind 'Test connection'."""

from __future__ import annotations

import libvirt
from lxml import etree

from vms.hypervisor.errors import wrap
from vms.hypervisor.uris import safe_uri


def _version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def _kvm_usable(conn: libvirt.virConnect, caps: etree._Element) -> bool:
    # libvirt lists a 'kvm' domain type for a guest arch only when /dev/kvm works.
    return bool(caps.xpath("/capabilities/guest/arch/domain[@type='kvm']"))


def _pools(conn: libvirt.virConnect) -> list[dict]:
    pools = []
    for pool in conn.listAllStoragePools(0):
        entry = {"name": pool.name(), "active": bool(pool.isActive())}
        if pool.isActive():
            _state, capacity, allocation, available = pool.info()
            entry.update({"capacity": capacity, "allocation": allocation, "available": available})
            target = etree.fromstring(pool.XMLDesc(0)).findtext("target/path")
            entry["path"] = target or ""
        pools.append(entry)
    return pools


def _networks(conn: libvirt.virConnect) -> list[dict]:
    nets = []
    for net in conn.listAllNetworks(0):
        try:
            bridge = net.bridgeName()
        except libvirt.libvirtError:
            bridge = ""
        nets.append({"name": net.name(), "active": bool(net.isActive()), "bridge": bridge})
    return nets


def _bridges(conn: libvirt.virConnect) -> list[str]:
    try:
        return sorted(
            iface.name()
            for iface in conn.listAllInterfaces(0)
            if etree.fromstring(iface.XMLDesc(0)).get("type") == "bridge"
        )
    except libvirt.libvirtError:
        return []  # the interface driver is optional (netcf); no list is not an error


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
            "pools": _pools(conn),
            "networks": _networks(conn),
            "bridges": _bridges(conn),
        }
    except libvirt.libvirtError as exc:
        raise wrap(exc, "read the host's capabilities", where) from exc
    return facts
