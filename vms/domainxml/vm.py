"""A VM's domain XML, made from its template through the domain XML engine, never by formatting.

Displays: every VNC/SPICE display of a VM gets its own random password (`passwd`), made here when the
VM's XML is built, never taken from the template (a template's `passwd` is replaced) and never stored
on a template. The relay authenticates with it (vms/hypervisor/display_auth.py); no page shows it, and
the copy of the XML kept in the database has it removed (`without_display_passwords`). With
`VMSpec.display_listen` the displays listen on that address of the host (see
vms.hypervisor.graphics.listen_address_for: the only address the relay connects to).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from lxml import etree

from vms.domainxml import Domain, set_field
from vms.domainxml.tree import insert_child, remove_element

# Our mark inside <metadata>: the reaper finds what we made by it, and leaves everything else alone.
METADATA_NS = "https://kvm-fleet-dashboard.invalid/ns/vm/1"
METADATA_PREFIX = "kvmdash"


@dataclass(frozen=True)
class VMSpec:
    uuid: str
    name: str
    vcpus: int
    memory_mib: int
    disk_path: str | None
    disk_format: str
    owner: str
    seed_iso_path: str | None = None
    # Where the VM's VNC/SPICE displays listen on its host; None leaves the template's listen as it is.
    display_listen: str | None = None
    # Room for live growth (the template's "maximum for live resize"); 0: none beyond the size.
    max_live_vcpus: int = 0
    max_live_memory_mib: int = 0


DISPLAY_TYPES = ("vnc", "spice")
# VNC Authentication uses only the first 8 characters of a password; SPICE takes longer ones.
PASSWORD_LENGTH = {"vnc": 8, "spice": 32}
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def new_display_password(display_type: str) -> str:
    """A random password for one display: 8 alphanumerics for VNC, 32 for SPICE."""
    length = PASSWORD_LENGTH.get(display_type, PASSWORD_LENGTH["spice"])
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def _set_listen(graphics: etree._Element, address: str) -> None:
    """Listen on `address` (one <listen type='address'>); a UNIX socket or `none` listen is kept."""
    listens = graphics.findall("listen")
    if any(el.get("type") in ("socket", "none") for el in listens):
        return
    for el in listens:
        remove_element(el)
    graphics.set("listen", address)
    insert_child(graphics, "listen", {"type": "address", "address": address})


def secure_displays(dom: Domain, listen: str | None) -> None:
    """A fresh random password on each VNC/SPICE display (an expiry the template set goes with the old
    one), and the listen address when one is given."""
    for graphics in dom.devices.graphics:
        if graphics.type not in DISPLAY_TYPES:
            continue
        el = graphics.element
        el.set("passwd", new_display_password(graphics.type))
        el.attrib.pop("passwdValidTo", None)
        if listen is not None:
            _set_listen(el, listen)


def listen_displays_on(dom: Domain, listen: str) -> None:
    """Every VNC/SPICE display listens on `listen`, its password kept (a VM moving to another host)."""
    for graphics in dom.devices.graphics:
        if graphics.type in DISPLAY_TYPES:
            _set_listen(graphics.element, listen)


def without_display_passwords(xml: str) -> str:
    """The domain XML without any display password, for keeping in the database or showing."""
    dom = Domain.from_xml(xml)
    for graphics in dom.devices.graphics:
        graphics.element.attrib.pop("passwd", None)
    return dom.to_xml()


def build_vm_domain(template_xml: str, spec: VMSpec) -> Domain:
    dom = Domain.from_xml(template_xml)
    dom.name = spec.name
    dom.uuid = spec.uuid
    # <memory> is what the balloon may reach while running, <currentMemory> what the VM has.
    set_field(dom, "memory", f"{max(spec.memory_mib, spec.max_live_memory_mib)}MiB")
    set_field(dom, "current_memory", f"{spec.memory_mib}MiB")
    # <vcpu> is how many vCPUs may be online while running, `current` how many are at boot.
    dom.vcpu = max(spec.vcpus, spec.max_live_vcpus)
    if dom.vcpu > spec.vcpus or (dom.vcpu_current is not None and dom.vcpu_current > spec.vcpus):
        dom.vcpu_current = spec.vcpus
    mark = dom.metadata.set(METADATA_NS, METADATA_PREFIX, "vm")
    mark.set("owner", spec.owner)
    if spec.disk_path:
        disks = [d for d in dom.devices.disks if d.device == "disk"]
        if disks:
            disk = disks[0]
            disk.type = "file"
            disk.source_file = spec.disk_path
            disk.driver_type = spec.disk_format
        else:
            dom.devices.add_disk(spec.disk_path, target_dev="vda", bus="virtio", driver_type=spec.disk_format)
    if spec.seed_iso_path:
        dom.devices.add_disk(
            spec.seed_iso_path,
            target_dev=_free_ide_target(dom),
            bus="ide",
            device="cdrom",
            driver_type="raw",
            readonly=True,
        )
    secure_displays(dom, spec.display_listen)
    return dom


def _free_ide_target(dom: Domain) -> str:
    used = {d.target_dev for d in dom.devices.disks}
    for dev in ("hdd", "hdc", "hdb", "hda"):  # from the end: templates put their own CD-ROM first
        if dev not in used:
            return dev
    raise ValueError("No free IDE slot for the cloud-init seed CD-ROM; remove an IDE disk from the template.")


def is_ours(domain_xml: str) -> bool:
    dom = Domain.from_xml(domain_xml)
    return dom.metadata.get(METADATA_NS) is not None
