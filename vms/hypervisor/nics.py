"""A running or stopped domain's network interfaces: add, remove, link up or down. No Django.

Live where the domain runs and QEMU takes it (PCI hot-plug of a NIC), always in the persistent
config as well, so the change survives the next boot. A NIC that cannot be plugged in live is added
to the saved config only, and the caller is told (`Applied.live` is False), so the page can say
"from the next boot".

The <interface> element is built with the domainxml engine (values set as attributes by lxml), never
by formatting strings; a NIC is found by its MAC, the one name of a NIC that survives a reboot.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import libvirt
from lxml import etree

from vms.domainxml.model import Domain
from vms.hypervisor.errors import HypervisorError, wrap
from vms.hypervisor.uris import safe_uri

MODELS = ("virtio", "e1000", "rtl8139")
# QEMU/KVM's locally administered prefix (libvirt's own default); the rest is random.
MAC_PREFIX = "52:54:00"
LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
# The guest must release a hot-unplugged NIC (ACPI): usually within a second; then it is given up.
DETACH_WAIT_S = 10.0
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class Nic:
    """One <interface> as the pages and the API show it."""

    mac: str
    type: str  # network, bridge, user, direct, ...
    source: str  # the network or bridge name ('' for user-mode)
    model: str
    link: str  # "up" or "down" (libvirt's default, no <link>, is up)
    target: str = ""  # the host's tap device of a running domain (vnet0), '' otherwise


@dataclass(frozen=True)
class Applied:
    live: bool  # the running guest has the change now
    config: bool  # the saved config has it (effective at next boot)


def random_mac(rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    return MAC_PREFIX + "".join(f":{rng.randrange(256):02x}" for _ in range(3))


def interface_xml(mac: str, model: str, *, network: str = "", bridge: str = "", link_up: bool = True) -> str:
    """The <interface> of a new NIC on a libvirt network or a host bridge (exactly one of them)."""
    if model not in MODELS:
        raise ValueError(f"unknown NIC model {model!r}")
    if bool(network) == bool(bridge):
        raise ValueError("a NIC joins either a network or a bridge")
    scratch = Domain.new("scratch")
    kind = "network" if network else "bridge"
    iface = scratch.devices.add_interface(kind, network=network or None, bridge=bridge or None, mac=mac, model=model)
    if not link_up:
        iface.link_state = "down"
    return etree.tostring(iface.element, encoding="unicode", with_tail=False)


def nics_of(xml: str | bytes) -> list[Nic]:
    """The NICs a domain XML describes, in device order; none for XML that cannot be read."""
    if not xml:
        return []
    try:
        dom = Domain.from_xml(xml)
    except Exception:  # noqa: BLE001 - a broken stored XML shows no NICs rather than failing the page
        return []
    nics = []
    for iface in dom.devices.interfaces:
        source = iface.source_network or iface.source_bridge or iface.source_dev or ""
        nics.append(
            Nic(
                mac=(iface.mac or "").lower(),
                type=iface.type or "",
                source=source,
                model=iface.model or "",
                link=iface.link_state or "up",
                target=iface.target_dev or "",
            )
        )
    return nics


# --- on a domain --------------------------------------------------------------------------------------
def _where(dom: libvirt.virDomain) -> str:
    try:
        return safe_uri(dom.connect().getURI())
    except libvirt.libvirtError:
        return ""


def _interface_element(dom: libvirt.virDomain, mac: str, flags: int) -> etree._Element | None:
    root = etree.fromstring(dom.XMLDesc(flags).encode(), _PARSER)
    for iface in root.findall("devices/interface"):
        found = iface.find("mac")
        if found is not None and (found.get("address") or "").lower() == mac.lower():
            return iface
    return None


def _live(dom: libvirt.virDomain) -> bool:
    return bool(dom.isActive())


def macs_on(dom: libvirt.virDomain) -> set[str]:
    """The MACs of the domain's NICs, live and saved together (a NIC may be in only one of them)."""
    macs = {nic.mac for nic in nics_of(dom.XMLDesc(0))}
    if dom.isPersistent():
        macs |= {nic.mac for nic in nics_of(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))}
    return macs


def attach(dom: libvirt.virDomain, xml: str, mac: str) -> tuple[Applied, str]:
    """Add the NIC: live and saved when the domain runs, else saved only. Returns what was applied and,
    when a live plug was refused, the host's reason (the NIC is then in the saved config only)."""
    where = _where(dom)
    action = f"add interface {mac}"
    try:
        active = _live(dom)
        persistent = bool(dom.isPersistent())
    except libvirt.libvirtError as exc:
        raise wrap(exc, action, where) from exc
    if active:
        flags = LIVE | (CONFIG if persistent else 0)
        try:
            dom.attachDeviceFlags(xml, flags)
            return Applied(live=True, config=persistent), ""
        except libvirt.libvirtError as exc:
            if not persistent:
                raise wrap(exc, action, where) from exc
            refusal = exc.get_error_message() or str(exc)
    else:
        refusal = ""
    try:
        dom.attachDeviceFlags(xml, CONFIG)
    except libvirt.libvirtError as exc:
        raise wrap(exc, action, where) from exc
    return Applied(live=False, config=True), refusal


def _both_copies(dom: libvirt.virDomain, mac: str, action: str, where: str):
    """(running?, the NIC's element in the live XML, in the saved XML): None where the domain lacks it."""
    try:
        active = _live(dom)
        persistent = bool(dom.isPersistent())
        live_el = _interface_element(dom, mac, 0) if active else None
        saved_el = _interface_element(dom, mac, libvirt.VIR_DOMAIN_XML_INACTIVE) if persistent else None
    except libvirt.libvirtError as exc:
        raise wrap(exc, action, where) from exc
    if live_el is None and saved_el is None:
        raise HypervisorError(action, where, f"the domain has no interface with MAC {mac}")
    return active, live_el, saved_el


def detach(dom: libvirt.virDomain, mac: str, wait_s: float = DETACH_WAIT_S) -> tuple[Applied, str]:
    """Remove the NIC with this MAC from the running guest (waiting for it to let go) and from the
    saved config. Returns what was applied and, when the guest kept the NIC, why."""
    where = _where(dom)
    action = f"remove interface {mac}"
    active, live_el, saved_el = _both_copies(dom, mac, action, where)
    live_done, reason = live_el is None, ""
    if live_el is not None:
        try:
            dom.detachDeviceFlags(etree.tostring(live_el, encoding="unicode"), LIVE)
        except libvirt.libvirtError as exc:
            if saved_el is None:
                raise wrap(exc, action, where) from exc
            reason = exc.get_error_message() or str(exc)
        else:
            live_done = _wait_gone(dom, mac, wait_s)
            if not live_done:
                reason = f"the guest did not release the interface within {wait_s:.0f} s"
    if saved_el is not None:
        try:
            dom.detachDeviceFlags(etree.tostring(saved_el, encoding="unicode"), CONFIG)
        except libvirt.libvirtError as exc:
            raise wrap(exc, action, where) from exc
    return Applied(live=active and live_done, config=saved_el is not None), reason


def _wait_gone(dom: libvirt.virDomain, mac: str, wait_s: float) -> bool:
    """Whether the running domain let go of the NIC (hot-unplug completes when the guest answers)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if not _live(dom) or _interface_element(dom, mac, 0) is None:
                return True
        except libvirt.libvirtError:
            return True  # the domain stopped meanwhile: nothing of it is live any more
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def set_link(dom: libvirt.virDomain, mac: str, up: bool) -> Applied:
    """Set the NIC's link state (`<link state='up|down'/>`) in the running guest and in the saved config.

    Each side is updated from its own copy of the element: the live one carries run-time parts (tap
    device, alias) that must not be written into the saved config.
    """
    where = _where(dom)
    action = f"set the link of interface {mac} {'up' if up else 'down'}"
    active, live_el, saved_el = _both_copies(dom, mac, action, where)
    try:
        for element, flags in ((live_el, LIVE), (saved_el, CONFIG)):
            if element is None:
                continue
            link = element.find("link")
            if link is None:
                link = etree.SubElement(element, "link")
            link.set("state", "up" if up else "down")
            dom.updateDeviceFlags(etree.tostring(element, encoding="unicode"), flags)
    except libvirt.libvirtError as exc:
        raise wrap(exc, action, where) from exc
    return Applied(live=live_el is not None, config=saved_el is not None)
