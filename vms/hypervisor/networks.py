"""libvirt networks on one host: the XML of a new one, and defining, starting, stopping, removing it.

No Django here (docs/architecture.md). Every function raises HypervisorError naming what failed, on
which host, with the host's own message; the service turns that into a sentence for the page.
"""

from __future__ import annotations

import ipaddress

import libvirt
from lxml import etree

from vms.hypervisor.cleanup import destroy_and_undefine
from vms.hypervisor.errors import HypervisorError, wrap
from vms.hypervisor.uris import safe_uri

MODES = ("nat", "route", "bridge")


def network_xml(
    name: str,
    mode: str,
    *,
    subnet: ipaddress.IPv4Network | None = None,
    dhcp: bool = False,
    bridge: str = "",
) -> str:
    """The <network> of a new NAT, routed or bridge-backed network, built with lxml.

    NAT and routed networks get their own bridge (libvirt names it) and the subnet's first address as
    the host's side; DHCP hands out the rest of the subnet. A bridge-backed network joins guests to an
    existing host bridge: the host's own network gives addresses, so it has neither subnet nor DHCP.
    """
    if mode not in MODES:
        raise ValueError(f"unknown network mode {mode!r}")
    root = etree.Element("network")
    etree.SubElement(root, "name").text = name
    if mode == "bridge":
        etree.SubElement(root, "forward", mode="bridge")
        etree.SubElement(root, "bridge", name=bridge)
        return etree.tostring(root, encoding="unicode")
    if subnet is None:
        raise ValueError("a NAT or routed network needs a subnet")
    etree.SubElement(root, "forward", mode=mode)
    hosts = list(subnet.hosts())
    ip = etree.SubElement(root, "ip", address=str(hosts[0]), netmask=str(subnet.netmask))
    if dhcp and len(hosts) > 1:
        dhcp_el = etree.SubElement(ip, "dhcp")
        etree.SubElement(dhcp_el, "range", start=str(hosts[1]), end=str(hosts[-1]))
    return etree.tostring(root, encoding="unicode")


def _where(conn: libvirt.virConnect) -> str:
    return safe_uri(conn.getURI())


def find_network(conn: libvirt.virConnect, name: str) -> libvirt.virNetwork | None:
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            return None
        raise wrap(exc, f"look up network '{name}'", _where(conn)) from exc


def _lookup(conn: libvirt.virConnect, name: str, action: str) -> libvirt.virNetwork:
    net = find_network(conn, name)
    if net is None:
        raise HypervisorError(action, _where(conn), f"no network named '{name}' on this host")
    return net


def define_and_start(conn: libvirt.virConnect, xml: str, name: str, *, autostart: bool = True) -> None:
    """Define the network persistently, start it and set autostart; on a failure remove what was made.

    All or nothing on this host: a network that was defined but could not start (its subnet already
    routed there, no bridge of that name) is removed again, so a retry starts from a clean host.
    """
    where = _where(conn)
    if find_network(conn, name) is not None:
        raise HypervisorError(f"define network '{name}'", where, "a network of that name already exists")
    try:
        net = conn.networkDefineXML(xml)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"define network '{name}'", where) from exc
    try:
        net.create()
        if autostart:
            net.setAutostart(1)
    except libvirt.libvirtError as exc:
        error = wrap(exc, f"start network '{name}'", where)
        destroy_and_undefine(net)
        raise error from exc


def start(conn: libvirt.virConnect, name: str) -> None:
    net = _lookup(conn, name, f"start network '{name}'")
    if net.isActive():
        return
    try:
        net.create()
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"start network '{name}'", _where(conn)) from exc


def stop(conn: libvirt.virConnect, name: str) -> None:
    net = _lookup(conn, name, f"stop network '{name}'")
    if not net.isActive():
        return
    try:
        net.destroy()
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"stop network '{name}'", _where(conn)) from exc


def set_autostart(conn: libvirt.virConnect, name: str, on: bool) -> None:
    net = _lookup(conn, name, f"change autostart of network '{name}'")
    try:
        net.setAutostart(1 if on else 0)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"change autostart of network '{name}'", _where(conn)) from exc


def remove(conn: libvirt.virConnect, name: str) -> None:
    """Stop and undefine the network; a network already gone is not an error (the goal is reached)."""
    net = find_network(conn, name)
    if net is None:
        return
    try:
        if net.isActive():
            net.destroy()
        if net.isPersistent():
            net.undefine()
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"remove network '{name}'", _where(conn)) from exc
