"""The IP addresses guests got (by DHCP or by hand), as their hosts can tell. No Django.

Where a host learns a guest's address, by how the guest is connected:
- a libvirt network: libvirt's own dnsmasq hands out the lease (`VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE`);
- a host bridge (the seed's br0): the DHCP server is elsewhere on the segment; the host only knows the
  guests it exchanged packets with, in its neighbour (ARP) table (`..._SRC_ARP`). libvirt 9.0 (Debian 12)
  cannot read that table ("internal error: wrong nlmsg len": it takes the dump's closing message for a
  truncated entry), so for a host reached over SSH the table is also read there (`ip -j -4 neigh`), a
  fixed command, no argument from anyone.
The guest agent knows best (every address, also on NICs no host sees), but needs an agent in the
guest: it is asked only when the domain has the agent's channel and libvirt says the agent is
connected (`<channel><target name='org.qemu.guest_agent.0' state='connected'/>`), so a guest without
one costs nothing and one whose agent hangs is not waited on every round.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field

import libvirt
from lxml import etree

# `ip` on the host, JSON output, IPv4 neighbours only: what the neighbour reader runs over SSH.
NEIGHBOUR_COMMAND = ("ip", "-j", "-4", "neigh", "show")
# Neighbour states that name a MAC the host really saw (not a pending or failed resolution).
_USABLE_STATES = {"REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_SOURCES = (
    ("lease", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE),
    ("arp", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP),
)
AGENT_CHANNEL = "org.qemu.guest_agent.0"


@dataclass
class GuestAddresses:
    """One running domain: its NICs' MACs and the addresses found for them, with where they came from."""

    uuid: str
    macs: list[str]
    # NICs on a host bridge: the host's neighbour table can tell their addresses (see add_neighbours).
    bridged: list[str] = field(default_factory=list)
    addresses: dict[str, list[str]] = field(default_factory=dict)  # by MAC, in order found
    source: str = ""  # "agent", "lease", "arp" or "neighbours": the first that gave any
    agent: bool = False  # a guest agent is connected: worth asking

    def add(self, mac: str, address: str, source: str) -> None:
        found = self.addresses.setdefault(mac, [])
        if address not in found:
            found.append(address)
            self.source = self.source or source

    def all(self) -> list[str]:
        return [a for mac in self.macs for a in self.addresses.get(mac, [])]


def _nics(dom: libvirt.virDomain) -> tuple[list[str], list[str], bool]:
    """The MACs of the domain's NICs, of those on a host bridge, and whether a guest agent is connected."""
    root = etree.fromstring(dom.XMLDesc(0).encode(), _PARSER)
    agent = any(
        target.get("name") == AGENT_CHANNEL and target.get("state") == "connected"
        for target in root.findall("devices/channel/target")
    )
    macs, bridged = [], []
    for iface in root.findall("devices/interface"):
        mac = iface.find("mac")
        if mac is None or not mac.get("address"):
            continue
        macs.append(mac.get("address").lower())
        if iface.get("type") == "bridge":
            bridged.append(macs[-1])
    return macs, bridged, agent


def _worth_showing(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("/")[0])
    except ValueError:
        return False
    return not (ip.is_link_local or ip.is_loopback or ip.is_unspecified or ip.is_multicast)


def from_libvirt(conn: libvirt.virConnect) -> list[GuestAddresses]:
    """Every running domain with a NIC, and what libvirt's lease and ARP sources say about it."""
    found = []
    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        try:
            macs, bridged, agent = _nics(dom)
            guest = GuestAddresses(dom.UUIDString(), macs, bridged, agent=agent)
        except (libvirt.libvirtError, etree.XMLSyntaxError):
            continue  # gone meanwhile
        if not guest.macs:
            continue
        sources = ((("agent", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT),) if guest.agent else ()) + _SOURCES
        for name, source in sources:
            try:
                interfaces = dom.interfaceAddresses(source, 0)
            except libvirt.libvirtError:
                continue  # not on a libvirt network, or libvirt 9.0's ARP reader: see the module's note
            for iface in (interfaces or {}).values():
                mac = (iface.get("hwaddr") or "").lower()
                for addr in iface.get("addrs") or []:
                    if mac in guest.macs and _worth_showing(addr.get("addr", "")):
                        guest.add(mac, addr["addr"], name)
        found.append(guest)
    return found


def add_neighbours(guests: list[GuestAddresses], neighbour_json: str) -> None:
    """Fill in from the host's neighbour table (`ip -j -4 neigh show` output) what libvirt did not give."""
    try:
        entries = json.loads(neighbour_json or "[]")
    except ValueError:
        return
    by_mac: dict[str, list[str]] = {}
    for entry in entries if isinstance(entries, list) else []:
        mac = str(entry.get("lladdr", "")).lower()
        states = set(entry.get("state") or [])
        address = str(entry.get("dst", ""))
        if mac and states & _USABLE_STATES and _worth_showing(address):
            by_mac.setdefault(mac, []).append(address)
    for guest in guests:
        for mac in guest.macs:
            if not guest.addresses.get(mac):
                for address in by_mac.get(mac, []):
                    guest.add(mac, address, "neighbours")


def missing_any(guests: list[GuestAddresses]) -> bool:
    """Whether a bridged NIC still has no address: only then is the host's neighbour table worth a read
    (a user-mode NIC never shows up there, and asking every few seconds for nothing costs an SSH login)."""
    return any(not guest.addresses.get(mac) for guest in guests for mac in guest.bridged)
