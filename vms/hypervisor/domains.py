"""Domain operations that converge: each checks what exists first, so a retry is harmless."""

from __future__ import annotations

import time

import libvirt
from lxml import etree

from vms.hypervisor.errors import wrap
from vms.hypervisor.uris import safe_uri

# libvirt's numeric domain states, named the way we store them.
STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "unknown",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting_down",
    libvirt.VIR_DOMAIN_SHUTOFF: "stopped",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "paused",
}

UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
)


def _where(conn: libvirt.virConnect) -> str:
    return f"host {safe_uri(conn.getURI())}"


def find_by_uuid(conn: libvirt.virConnect, uuid: str) -> libvirt.virDomain | None:
    try:
        return conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise wrap(exc, f"look up domain {uuid}", _where(conn)) from exc


def state_of(dom: libvirt.virDomain) -> str:
    state, _reason = dom.state()
    return STATE_NAMES.get(state, "unknown")


def define(conn: libvirt.virConnect, xml: str, name: str) -> libvirt.virDomain:
    """Define (or redefine in place: same UUID and name) with libvirt's own schema validation."""
    try:
        return conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"define VM '{name}'", _where(conn)) from exc


def create_transient(conn: libvirt.virConnect, xml: str, name: str) -> libvirt.virDomain:
    """Create and boot a transient domain (the seed's `virsh create`): never defined, so it is gone
    from the host when it powers off. With libvirt's own schema validation, as `define` does.

    Converges: a domain with this UUID already running (an earlier attempt got this far) is returned.
    """
    uuid = etree.fromstring(xml.encode()).findtext("uuid")
    existing = find_by_uuid(conn, uuid) if uuid else None
    if existing is not None and existing.isActive():
        return existing
    try:
        return conn.createXML(xml, libvirt.VIR_DOMAIN_START_VALIDATE)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"create VM '{name}'", _where(conn)) from exc


def _call(dom: libvirt.virDomain, action: str, fn, *args) -> None:
    try:
        fn(*args)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"{action} VM '{dom.name()}'", _where(dom.connect())) from exc


def start(dom: libvirt.virDomain) -> None:
    if not dom.isActive():
        _call(dom, "start", dom.create)


def force_off(dom: libvirt.virDomain) -> None:
    if dom.isActive():
        try:
            dom.destroy()
        except libvirt.libvirtError as exc:
            # It may have stopped between the check and the call: that is what we wanted.
            if dom.isActive():
                raise wrap(exc, f"force off VM '{dom.name()}'", _where(dom.connect())) from exc


def shutdown(dom: libvirt.virDomain) -> None:
    if dom.isActive():
        _call(dom, "shut down", dom.shutdown)


def reboot(dom: libvirt.virDomain) -> None:
    _call(dom, "reboot", dom.reboot, 0)


def suspend(dom: libvirt.virDomain) -> None:
    if state_of(dom) != "paused":
        _call(dom, "suspend", dom.suspend)


def resume(dom: libvirt.virDomain) -> None:
    if state_of(dom) == "paused":
        _call(dom, "resume", dom.resume)


def undefine(dom: libvirt.virDomain) -> None:
    try:
        dom.undefineFlags(UNDEFINE_FLAGS)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return
        raise wrap(exc, f"undefine VM '{dom.name()}'", _where(dom.connect())) from exc


def wait_for_state(dom: libvirt.virDomain, wanted: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if state_of(dom) == wanted:
                return True
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return wanted == "stopped"
            raise wrap(exc, f"read the state of VM '{dom.name()}'", _where(dom.connect())) from exc
        time.sleep(0.05)
    return False


def wait_until_gone(conn: libvirt.virConnect, uuid: str, timeout: float) -> bool:
    """True once the host no longer has a domain with this UUID (a transient domain that powered off)."""
    deadline = time.monotonic() + timeout
    while find_by_uuid(conn, uuid) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def disk_sources(dom: libvirt.virDomain) -> list[str]:
    """File paths of the domain's disks, read from its XML."""
    root = etree.fromstring(dom.XMLDesc(0))
    return [src.get("file") for src in root.iterfind("devices/disk/source") if src.get("file")]


def saved_xml(dom: libvirt.virDomain) -> str:
    """What the host boots next time: the persistent config, or the live XML of a transient domain."""
    try:
        return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if dom.isPersistent() else 0)
    except libvirt.libvirtError as exc:
        raise wrap(exc, f"read the configuration of VM '{dom.name()}'", _where(dom.connect())) from exc
