"""A defined domain's persistent config, read whole (display passwords included) to be changed and
defined again: reading it without VIR_DOMAIN_XML_SECURE would drop each display's `passwd`, and
defining that would leave the displays without the password the console relay logs in with."""

from __future__ import annotations

import libvirt

from vms.hypervisor.domains import define
from vms.hypervisor.errors import wrap
from vms.hypervisor.uris import safe_uri


def persistent_xml(dom: libvirt.virDomain) -> str:
    """The config the domain boots with next time, with its secrets (never shown, never stored)."""
    try:
        return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    except libvirt.libvirtError as exc:
        where = f"host {safe_uri(dom.connect().getURI())}"
        raise wrap(exc, f"read the configuration of VM '{dom.name()}'", where) from exc


def redefine(conn: libvirt.virConnect, xml: str, name: str) -> libvirt.virDomain:
    """Define the changed config in place (same UUID and name), validated by libvirt against its schema.
    A running domain keeps running as it is; the new config is what it boots next time."""
    return define(conn, xml, name)
