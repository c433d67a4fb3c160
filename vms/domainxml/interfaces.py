"""Which libvirt networks and host bridges a domain XML's interfaces join. Pure: XML in, names out."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class Wiring:
    networks: frozenset[str] = field(default_factory=frozenset)  # <interface type='network'><source network=>
    bridges: frozenset[str] = field(default_factory=frozenset)  # <interface type='bridge'><source bridge=>


def wiring_of(xml: str | bytes) -> Wiring:
    """The networks and bridges the interfaces name; nothing for XML that cannot be read (stored XML
    of a broken or half-made VM must not fail the page or the placement that asks)."""
    if not xml:
        return Wiring()
    data = xml.encode() if isinstance(xml, str) else xml
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        return Wiring()
    networks, bridges = set(), set()
    for iface in root.findall("devices/interface"):
        source = iface.find("source")
        if source is None:
            continue
        if iface.get("type") == "network" and source.get("network"):
            networks.add(source.get("network"))
        elif iface.get("type") == "bridge" and source.get("bridge"):
            bridges.add(source.get("bridge"))
    return Wiring(frozenset(networks), frozenset(bridges))
