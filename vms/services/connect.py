"""How a person reaches a VM: its graphical display, its addresses, its host.

Read from the domain XML the VM was made with (stored in the database) and from what the watcher last
read on the VM's host (Redis), never from libvirt: pages call this while they render, and a page must
not wait on a host. The stored XML is what the VM was defined
with, so a display it lacks is one the running domain lacks too (unless someone edited the domain on
the host behind the dashboard's back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy
from lxml import etree

from vms.choices import VMState
from vms.hypervisor.graphics import graphics_in

# A display nothing stored can tell about: a domain discovered on a host (its XML was never stored) or
# an XML that cannot be read. The console page is offered; the relay tells the truth when it connects.
UNKNOWN = "unknown"
# States in which the guest has a screen to show (a paused one shows its last picture).
SHOWS_A_SCREEN = frozenset({VMState.RUNNING, VMState.PAUSED, VMState.SHUTTING_DOWN})
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _xml_of(vm) -> str:
    """The VM's domain XML; before provisioning stores it, its template's (what it will be made from)."""
    if vm.domain_xml:
        return vm.domain_xml
    if vm.state in (VMState.PENDING, VMState.PROVISIONING) and vm.template_id is not None:
        return vm.template.domain_xml
    return ""


def display_of(vm) -> str | None:
    """The display: "vnc" or "spice" (the first the XML declares), None (it declares none), or UNKNOWN."""
    xml = _xml_of(vm)
    if not xml:
        return UNKNOWN
    try:
        displays = graphics_in(xml)
    except Exception:  # lxml's XMLSyntaxError and friends: a page must not fail on a stored XML
        return UNKNOWN
    return displays[0].type if displays else None


def has_display_type(vm, kind: str) -> bool | None:
    """Whether the VM declares a display of this kind (True/False), None when that cannot be known."""
    xml = _xml_of(vm)
    try:
        return any(g.type == kind for g in graphics_in(xml)) if xml else None
    except Exception:  # unreadable stored XML: unknown, as above
        return None


@dataclass(frozen=True)
class Network:
    kind: str  # libvirt's interface type: "network", "bridge", "user", "direct", ...
    source: str  # the libvirt network or bridge name ("" when the XML names none)


# How the watcher learnt a guest's address (vms/hypervisor/addresses.py), as the page says it.
SEEN_BY = {
    "lease": gettext_lazy("from its host's DHCP lease"),
    "arp": gettext_lazy("from its host's ARP table"),
    "neighbours": gettext_lazy("from its host's ARP table"),
}


@dataclass(frozen=True)
class HowToConnect:
    addresses: list[str] = field(default_factory=list)  # guest IP addresses the XML fixes
    seen_addresses: list[str] = field(default_factory=list)  # what its host saw it use (DHCP, ARP)
    seen_by: str = ""
    host_name: str = ""
    host_address: str = ""  # where the dashboard reaches the host (from its URI), "" for a local URI
    networks: list[Network] = field(default_factory=list)
    display: str | None = UNKNOWN

    @property
    def all_addresses(self) -> list[str]:
        return self.addresses + [a for a in self.seen_addresses if a not in self.addresses]

    @property
    def behind_nat(self) -> bool:
        """On a libvirt network (NAT by default): the guest is reached from its host, not from outside."""
        return any(n.kind == "network" for n in self.networks)


def how_to_connect(vm, seen: dict | None = None) -> HowToConnect:
    """What the VM page's "How to connect" section says.

    Guest addresses: those the domain XML fixes (`<interface><ip address=...>`), and `seen`, what the
    watcher last read on the host of a running VM (vms.watcher.observed.guest_addresses: a DHCP lease of
    a libvirt network, the host's ARP table for a bridge). Without either the page says how to find them.
    """
    addresses: list[str] = []
    networks: list[Network] = []
    xml = _xml_of(vm)
    if xml:
        try:
            root = etree.fromstring(xml.encode(), _PARSER)
        except Exception:  # unreadable: say nothing rather than fail the page
            root = None
        if root is not None:
            for iface in root.findall("devices/interface"):
                source = iface.find("source")
                name = "" if source is None else (source.get("network") or source.get("bridge") or "")
                networks.append(Network(iface.get("type", ""), name))
                addresses += [ip.get("address") for ip in iface.findall("ip") if ip.get("address")]
    host = vm.host
    seen = seen if vm.state in SHOWS_A_SCREEN and seen else {}
    return HowToConnect(
        addresses=addresses,
        seen_addresses=[str(a) for a in seen.get("addresses", [])],
        seen_by=str(SEEN_BY.get(seen.get("source", ""), "")),
        host_name=host.name if host is not None else "",
        host_address=(urlsplit(host.uri).hostname or "") if host is not None else "",
        networks=networks,
        display=display_of(vm),
    )
