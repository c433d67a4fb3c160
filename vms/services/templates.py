"""VM templates: import from domain XML, typed edits through the domain XML engine, versions, previews.

A template's source of truth is its `domain_xml`; the typed settings (memory, boot, network, ...) are
read from it and written into it by the engine, never by string formatting. Every change bumps the
version and keeps the old content in a TemplateVersion, so VMs made earlier are never affected (their
own domain XML is stored on the VM row when they are provisioned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from lxml import etree

from vms.choices import BootMode, DiskFormat, DiskSource
from vms.domainxml import Disk, Domain, DomainXMLError, schema_issues
from vms.domainxml.hostcaps import adapt_to_connection
from vms.domainxml.tree import insert_child, remove_element
from vms.domainxml.vm import METADATA_NS, VMSpec, build_vm_domain
from vms.hypervisor.connection import connection
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.volumes import disk_volume_name
from vms.models import Host, Image, ImageKind, TemplateVersion, VMTemplate

POOL = "default"
# What a template's <name> holds: every VM gets its own name when it is made.
PLACEHOLDER_NAME = "template"
# The UUID and name a preview uses: a placeholder, never the UUID of a real VM.
PREVIEW_UUID = "00000000-0000-4000-8000-00000000feed"
PREVIEW_NAME = "template-preview"
MAX_XML_BYTES = 512 * 1024

# The template columns that say what a VM may ask for and how its disk is made; kept in every version.
LIMIT_FIELDS = (
    "boot_mode",
    "default_vcpus",
    "max_vcpus",
    "default_memory_mib",
    "max_memory_mib",
    "default_disk_gib",
    "max_disk_gib",
    "disk_source",
    "disk_format",
    "base_image",
    "cloud_init",
    "requires_kvm",
)
EDITABLE_FIELDS = ("name", "description", "active", *LIMIT_FIELDS)

NETWORK_KINDS = ("none", "user", "network", "bridge")
GRAPHICS_KINDS = ("none", "vnc", "spice")
DISK_BUSES = ("virtio", "sata", "scsi", "ide")
_BUS_PREFIX = {"virtio": "vd", "sata": "sd", "scsi": "sd", "ide": "hd", "usb": "sd"}
CLOCK_OFFSETS = ("utc", "localtime")


def blank_domain_xml() -> str:
    """Where a template made from scratch starts: a small BIOS guest, one disk, user networking, VNC, serial."""
    dom = Domain.new(PLACEHOLDER_NAME, "kvm")
    dom.memory = "512MiB"
    dom.current_memory = "512MiB"
    dom.vcpu = 1
    dom.os.type = "hvm"
    dom.os.arch = "x86_64"
    dom.os.machine = "pc"
    dom.os.boot_devices = ["hd", "cdrom"]
    dom.features.acpi = True
    dom.features.apic = True
    dom.clock.offset = "utc"
    dom.on_poweroff, dom.on_reboot, dom.on_crash = "destroy", "restart", "destroy"
    dom.devices.add_disk(None, target_dev="vda", bus="virtio", driver_type="qcow2")
    dom.devices.add_interface("user", model="virtio")
    dom.devices.add_serial("pty", 0)
    dom.devices.add_console("pty", "serial", 0)
    dom.devices.add_graphics("vnc", autoport=True)
    dom.devices.add_video("virtio")
    return dom.to_xml()


def snapshot(template: VMTemplate) -> dict[str, Any]:
    return {field: getattr(template, field) for field in LIMIT_FIELDS}


# --- parsing and validation -----------------------------------------------------------------------


def parse_domain(xml: Any, field: str = "domain_xml") -> Domain:
    """The document as a Domain, or one sentence (on `field`) saying why it cannot be one."""
    if isinstance(xml, bytes):
        size = len(xml)
    elif isinstance(xml, str):
        size = len(xml.encode("utf-8", "surrogatepass"))
    else:
        raise ValidationError({field: _("Paste or upload a libvirt domain XML document.")})
    if not size or not (xml.strip() if isinstance(xml, str) else xml.strip()):
        raise ValidationError({field: _("Paste or upload a libvirt domain XML document; this one is empty.")})
    if size > MAX_XML_BYTES:
        raise ValidationError(
            {
                field: _("This XML is %(size)d KiB; a domain XML document is at most %(max)d KiB.")
                % {"size": size // 1024, "max": MAX_XML_BYTES // 1024}
            }
        )
    try:
        return Domain.from_xml(xml)
    except DomainXMLError as exc:
        raise ValidationError({field: _("This is not a domain XML document: %(why)s.") % {"why": exc}}) from None


def check_schema(dom: Domain | str, field: str = "domain_xml") -> None:
    """libvirt's RelaxNG schema must accept the document; the first (located) problem is reported."""
    issues = schema_issues(dom)
    if issues:
        raise ValidationError(
            {
                field: _(
                    "libvirt's domain schema does not accept this XML at %(issue)s. Correct that element or attribute "
                    "and try again."
                )
                % {"issue": str(issues[0])}
            }
        )


# --- import ---------------------------------------------------------------------------------------


def _remove_children(el: etree._Element, tag: str) -> int:
    found = el.findall(tag)
    for child in found:
        remove_element(child)
    return len(found)


def strip_instance_parts(dom: Domain) -> list[str]:
    """Remove what belongs to one VM (identity, MACs, disk paths, addresses); return what was removed.

    Everything else is kept as it is. Each VM made from the template gets its own values for what
    is removed here (libvirt picks MACs and addresses; the provisioner sets name, UUID and disks).
    """
    notes: list[str] = []
    root = dom.element
    if "id" in root.attrib:
        del root.attrib["id"]
    if dom.name != PLACEHOLDER_NAME:
        notes.append(
            _("The domain name '%(name)s' was replaced by a placeholder: each VM gets its own name.")
            % {"name": dom.name}
        )
        dom.name = PLACEHOLDER_NAME
    if dom.uuid:
        dom.uuid = None
        notes.append(_("The UUID was removed: each VM gets its own."))
    if dom.metadata.get(METADATA_NS) is not None:
        dom.metadata.remove(METADATA_NS)
    if dom.os.nvram:
        dom.os.nvram = None
        notes.append(_("The NVRAM path was removed: libvirt makes one per VM."))

    addresses = 0
    for device in dom.devices.all():
        if device.address is not None:
            device.remove_address()
            addresses += 1
    if addresses:
        notes.append(
            _("%(n)d device addresses (PCI, drive, USB, ...) were removed: libvirt assigns them per VM.")
            % {"n": addresses}
        )

    macs = 0
    for iface in dom.devices.interfaces:
        macs += _remove_children(iface.element, "mac")
        _remove_children(iface.element, "target")  # the host's tap device name (vnet0, ...)
    if macs:
        notes.append(_("%(n)d MAC addresses were removed: each VM gets its own.") % {"n": macs})

    data_disks = [d for d in dom.devices.disks if d.device in ("disk", "lun", None)]
    for extra in data_disks[1:]:
        dom.devices.remove(extra)
        notes.append(
            _("Disk %(dev)s was removed: a template describes one disk, which each VM gets new.")
            % {"dev": extra.target_dev or "?"}
        )
    for disk in dom.devices.disks:
        path = disk.source
        _remove_children(disk.element, "backingStore")
        if path:
            disk.eject()
            if disk.removable:
                notes.append(
                    _("The CD-ROM/floppy image '%(path)s' was removed; choose an uploaded ISO instead.")
                    % {"path": path}
                )
            else:
                notes.append(_("The disk path '%(path)s' was removed: each VM gets its own volume.") % {"path": path})
        if disk.type not in ("file", "volume") and not disk.removable:
            disk.type = "file"  # the provisioner gives every VM a file volume from the default pool

    for graphics in dom.devices.graphics:
        if graphics.port not in (None, -1) and graphics.autoport is not True:
            graphics.port = -1
            graphics.autoport = True
            notes.append(
                _("The fixed %(kind)s port was replaced by an automatic one: two VMs cannot share a port.")
                % {"kind": (graphics.type or "").upper()}
            )
    for chardev in [*dom.devices.serials, *dom.devices.consoles, *dom.devices.channels]:
        if chardev.type in ("pty", "unix") and chardev.element.find("source") is not None:
            _remove_children(chardev.element, "source")  # /dev/pts/N or a per-VM socket path
    for seclabel in root.findall("seclabel"):
        if seclabel.get("type") == "dynamic":
            _remove_children(seclabel, "label")
            _remove_children(seclabel, "imagelabel")
    return notes


def _limits_from_domain(dom: Domain) -> dict[str, Any]:
    vcpus = dom.vcpu or 1
    memory_mib = max((dom.memory or 0) // 1024, 1)
    disks = [d for d in dom.devices.disks if not d.removable]
    fmt = disks[0].driver_type if disks else None
    return {
        "boot_mode": BootMode.KERNEL if dom.os.kernel else BootMode.BIOS,
        "default_vcpus": vcpus,
        "max_vcpus": max(vcpus, VMTemplate._meta.get_field("max_vcpus").default),
        "default_memory_mib": memory_mib,
        "max_memory_mib": max(memory_mib, VMTemplate._meta.get_field("max_memory_mib").default),
        "disk_source": DiskSource.EMPTY if disks else DiskSource.NONE,
        "disk_format": fmt if fmt in DiskFormat.values else DiskFormat.QCOW2,
    }


def check_template_name(name: Any, exclude_pk: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": _("Give the template a name.")})
    name = name.strip()
    if len(name) > 100 or any(ord(c) < 32 for c in name):
        raise ValidationError({"name": _("Use one line of at most 100 characters for the name.")})
    if VMTemplate.objects.exclude(pk=exclude_pk).filter(name=name).exists():
        raise ValidationError({"name": _("A template named '%(name)s' already exists.") % {"name": name}})
    return name


def import_template(name: str, xml: str | bytes, user, *, description: str = "", **fields: Any) -> VMTemplate:
    """A new template from a domain XML (pasted or uploaded, e.g. an existing VM's `virsh dumpxml`).

    Refused with one sentence, creating nothing, when the XML is malformed or libvirt's schema does
    not accept it. The notes on what was removed are on `template.import_notes`.
    """
    name = check_template_name(name)
    dom = parse_domain(xml, "xml")
    check_schema(dom, "xml")
    notes = strip_instance_parts(dom)
    check_schema(dom, "xml")
    data = {**_limits_from_domain(dom), **fields}
    template = _create(user, name=name, description=description, domain_xml=dom.to_xml(), **data)
    template.import_notes = notes
    return template


# --- typed settings ---------------------------------------------------------------------------------


@dataclass
class TemplateSettings:
    """The typed parts of a template's domain XML that the form and the API edit."""

    memory_mib: int | None = None  # <memory>: the most the guest can have (a VM's memory replaces it)
    current_memory_mib: int | None = None  # <currentMemory>: what it boots with; the balloon gives it up to memory
    vcpus: int | None = None
    boot_mode: str | None = None
    boot_order: list[str] | None = None
    boot_menu: bool | None = None
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    on_poweroff: str | None = None
    on_reboot: str | None = None
    on_crash: str | None = None
    acpi: bool | None = None
    apic: bool | None = None
    pae: bool | None = None
    clock_offset: str | None = None
    network_kind: str | None = None
    network_source: str | None = None
    graphics: str | None = None
    serial_console: bool | None = None
    cdrom_iso: str | None = None  # a volume name in the default pool; "" = no CD-ROM medium
    disk_bus: str | None = None


SETTING_NAMES = tuple(TemplateSettings.__dataclass_fields__)


def read_settings(xml: str | Domain) -> dict[str, Any]:
    dom = xml if isinstance(xml, Domain) else Domain.from_xml(xml)
    iface = next(iter(dom.devices.interfaces), None)
    if iface is None:
        network_kind, network_source = "none", ""
    elif iface.type == "bridge":
        network_kind, network_source = "bridge", iface.source_bridge or ""
    elif iface.type == "network":
        network_kind, network_source = "network", iface.source_network or ""
    else:
        network_kind, network_source = "user", ""
    graphics = next(iter(dom.devices.graphics), None)
    cdrom = next((d for d in dom.devices.disks if d.device == "cdrom"), None)
    data_disk = next((d for d in dom.devices.disks if not d.removable), None)
    memory_kib = dom.memory or 0
    return {
        "memory_mib": memory_kib // 1024,
        "current_memory_mib": (dom.current_memory or memory_kib) // 1024,  # no <currentMemory>: all of it
        "vcpus": dom.vcpu or 1,
        "boot_mode": BootMode.KERNEL if dom.os.kernel else BootMode.BIOS,
        "boot_order": dom.os.boot_devices,
        "boot_menu": bool(dom.os.bootmenu_enabled),
        "kernel": dom.os.kernel or "",
        "initrd": dom.os.initrd or "",
        "cmdline": dom.os.cmdline or "",
        "on_poweroff": dom.on_poweroff or "destroy",
        "on_reboot": dom.on_reboot or "restart",
        "on_crash": dom.on_crash or "destroy",
        "acpi": dom.features.acpi,
        "apic": dom.features.apic,
        "pae": dom.features.pae,
        "clock_offset": dom.clock.offset or "utc",
        "network_kind": network_kind,
        "network_source": network_source,
        "graphics": graphics.type if graphics is not None and graphics.type in GRAPHICS_KINDS else "none",
        "serial_console": bool(dom.devices.serials or dom.devices.consoles),
        "cdrom_iso": (cdrom.source_volume or "") if cdrom is not None and cdrom.type == "volume" else "",
        "disk_bus": (data_disk.target_bus or "virtio") if data_disk is not None else "virtio",
    }


def _free_target(dom: Domain, prefix: str, skip: Disk | None = None) -> str:
    used = {d.target_dev for d in dom.devices.disks if skip is None or d.element is not skip.element}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        if prefix + letter not in used:
            return prefix + letter
    raise DomainXMLError("no free disk target name is left")


def _apply_boot(dom: Domain, s: TemplateSettings) -> None:
    mode = s.boot_mode or (BootMode.KERNEL if dom.os.kernel else BootMode.BIOS)
    if mode == BootMode.KERNEL:
        kernel = s.kernel if s.kernel is not None else dom.os.kernel
        if not kernel:
            raise DomainXMLError(_("Direct kernel boot needs the path of a kernel on the hosts."))
        dom.os.kernel = kernel
        if s.initrd is not None:
            dom.os.initrd = s.initrd or None
        if s.cmdline is not None:
            dom.os.cmdline = s.cmdline or None
        dom.os.boot_devices = []
    else:
        dom.os.kernel = None
        dom.os.initrd = None
        dom.os.cmdline = None
        if s.boot_order is not None:
            dom.os.boot_devices = s.boot_order
        elif not dom.os.boot_devices and not any(d.boot_order for d in dom.devices.all()):
            dom.os.boot_devices = ["hd"]
    if s.boot_menu is not None:
        if s.boot_menu:
            dom.os.bootmenu_enabled = True
        else:
            el = dom.os.element.find("bootmenu") if dom.os.element is not None else None
            if el is not None:
                remove_element(el)


def _apply_network(dom: Domain, kind: str, source: str) -> None:
    if kind not in NETWORK_KINDS:
        raise DomainXMLError(_("Choose one of: %(kinds)s.") % {"kinds": ", ".join(NETWORK_KINDS)})
    ifaces = dom.devices.interfaces
    if kind == "none":
        for iface in ifaces:
            dom.devices.remove(iface)
        return
    if kind in ("bridge", "network") and not source:
        raise DomainXMLError(_("Name the bridge or libvirt network the VM's interface joins."))
    iface = ifaces[0] if ifaces else dom.devices.add_interface("user", model="virtio")
    if kind == "user":
        iface.use_user_networking()
    elif kind == "bridge":
        iface.connect_to_bridge(source)
    else:
        iface.connect_to_network(source)


def _apply_graphics(dom: Domain, kind: str) -> None:
    if kind not in GRAPHICS_KINDS:
        raise DomainXMLError(_("Choose one of: %(kinds)s.") % {"kinds": ", ".join(GRAPHICS_KINDS)})
    current = dom.devices.graphics
    if kind != "spice":
        # SPICE-only devices make no sense (and fail to start) without SPICE graphics.
        for chan in dom.devices.channels:
            if chan.type == "spicevmc":
                dom.devices.remove(chan)
        for redir in dom.devices.redirdevs:
            if redir.type == "spicevmc":
                dom.devices.remove(redir)
    if kind == "none":
        for graphics in current:
            dom.devices.remove(graphics)
        return
    if any(g.type == kind for g in current):
        for graphics in current:
            if graphics.type != kind:
                dom.devices.remove(graphics)
        return
    for graphics in current:
        dom.devices.remove(graphics)
    dom.devices.add_graphics(kind, autoport=True)


def _apply_serial(dom: Domain, wanted: bool) -> None:
    if wanted:
        if not dom.devices.serials:
            dom.devices.add_serial("pty", 0)
        if not dom.devices.consoles:
            dom.devices.add_console("pty", "serial", 0)
    else:
        for dev in [*dom.devices.consoles, *dom.devices.serials]:
            dom.devices.remove(dev)


def _apply_cdrom(dom: Domain, volume: str) -> None:
    cdroms = [d for d in dom.devices.disks if d.device == "cdrom"]
    if not volume:
        for cdrom in cdroms:
            cdrom.eject()
        return
    if cdroms:
        cdrom = cdroms[0]
        cdrom.eject()
        cdrom.type = "volume"
        insert_child(cdrom.element, "source", {"pool": POOL, "volume": volume})
        return
    bus = "sata" if "q35" in (dom.os.machine or "") else "ide"
    dom.devices.add_disk(
        volume, pool=POOL, device="cdrom", bus=bus, target_dev=_free_target(dom, _BUS_PREFIX[bus]), driver_type="raw"
    )


def _apply_disk_bus(dom: Domain, bus: str) -> None:
    if bus not in DISK_BUSES:
        raise DomainXMLError(_("Choose one of: %(buses)s.") % {"buses": ", ".join(DISK_BUSES)})
    disk = next((d for d in dom.devices.disks if not d.removable), None)
    if disk is None:
        disk = dom.devices.add_disk(None, target_dev=_free_target(dom, _BUS_PREFIX[bus]), bus=bus, driver_type=None)
        return
    if disk.target_bus != bus:
        disk.target_bus = bus
        if not (disk.target_dev or "").startswith(_BUS_PREFIX[bus]):
            disk.target_dev = _free_target(dom, _BUS_PREFIX[bus], skip=disk)


def _apply_current_memory(dom: Domain, old_max: int | None, old_current: int | None, wanted_mib: int | None) -> None:
    """<currentMemory> after <memory> was set: a current memory below the maximum (a balloon between) is kept.

    Without a new value, a current memory that was below the old maximum stays as it is (lowered to the
    new maximum if that is less); one that was the whole maximum (or absent) follows the new maximum.
    """
    maximum = dom.memory
    if wanted_mib is not None:
        current = int(wanted_mib) * 1024
        if maximum is not None and current > maximum:
            raise DomainXMLError(
                _("The current memory (%(current)d MiB) cannot be more than the memory (%(max)d MiB).")
                % {"current": current // 1024, "max": maximum // 1024}
            )
    elif old_current is None or old_max is None or old_current >= old_max:
        current = maximum  # no balloon before: the guest keeps booting with all of its memory
    else:
        current = min(old_current, maximum) if maximum is not None else old_current
    if current is not None and (wanted_mib is not None or current != old_current):
        dom.current_memory = f"{current}KiB"


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise DomainXMLError(_("Choose one of: %(values)s.") % {"values": ", ".join(allowed)})
    return value


def apply_settings(xml: str, settings: TemplateSettings | dict[str, Any]) -> str:
    """The XML with the given typed settings applied (None = leave as is).

    Raises ValidationError keyed by setting name, with the engine's reason, for each one refused.
    """
    s = settings if isinstance(settings, TemplateSettings) else TemplateSettings(**settings)
    dom = Domain.from_xml(xml)
    errors: dict[str, str] = {}

    def attempt(field: str, fn) -> None:  # noqa: ANN001
        try:
            fn()
        except DomainXMLError as exc:
            errors[field] = str(exc)

    if s.memory_mib is not None or s.current_memory_mib is not None:
        old_max, old_current = dom.memory, dom.current_memory
        if s.memory_mib is not None:
            attempt("memory_mib", lambda: setattr(dom, "memory", f"{int(s.memory_mib)}MiB"))
        if "memory_mib" not in errors:
            attempt(
                "current_memory_mib",
                lambda: _apply_current_memory(dom, old_max, old_current, s.current_memory_mib),
            )
    if s.vcpus is not None:

        def vcpus() -> None:
            dom.vcpu = int(s.vcpus)
            if dom.vcpu_current is not None and dom.vcpu_current > dom.vcpu:
                dom.vcpu_current = dom.vcpu

        attempt("vcpus", vcpus)
    if any(v is not None for v in (s.boot_mode, s.boot_order, s.boot_menu, s.kernel, s.initrd, s.cmdline)):
        field = "kernel" if s.boot_mode == BootMode.KERNEL else "boot_order"
        attempt(field, lambda: _apply_boot(dom, s))
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        value = getattr(s, event)
        if value is not None:
            attempt(event, lambda event=event, value=value: setattr(dom, event, value))
    for feature in ("acpi", "apic", "pae"):
        value = getattr(s, feature)
        if value is not None:
            attempt(feature, lambda feature=feature, value=value: setattr(dom.features, feature, bool(value)))
    if s.clock_offset is not None:
        attempt("clock_offset", lambda: setattr(dom.clock, "offset", _choice(s.clock_offset, CLOCK_OFFSETS)))
    if s.network_kind is not None:
        attempt(
            "network_source" if s.network_kind in ("bridge", "network") else "network_kind",
            lambda: _apply_network(dom, s.network_kind, (s.network_source or "").strip()),
        )
    if s.graphics is not None:
        attempt("graphics", lambda: _apply_graphics(dom, s.graphics))
    if s.serial_console is not None:
        attempt("serial_console", lambda: _apply_serial(dom, bool(s.serial_console)))
    if s.cdrom_iso is not None:
        attempt("cdrom_iso", lambda: _apply_cdrom(dom, s.cdrom_iso))
    if s.disk_bus is not None:
        attempt("disk_bus", lambda: _apply_disk_bus(dom, s.disk_bus))
    if errors:
        raise ValidationError(errors)
    return dom.to_xml()


# --- create, edit, versions ----------------------------------------------------------------------------


def _check_limits(data: dict[str, Any]) -> None:
    errors: dict[str, str] = {}
    pairs = (
        ("default_vcpus", "max_vcpus"),
        ("default_memory_mib", "max_memory_mib"),
        ("default_disk_gib", "max_disk_gib"),
    )
    for default, maximum in pairs:
        if data[default] < 1:
            errors[default] = _("Must be at least 1.")
        elif data[default] > data[maximum]:
            errors[maximum] = _("The maximum cannot be below the default (%(value)s).") % {"value": data[default]}
    if data["disk_source"] in (DiskSource.OVERLAY, DiskSource.COPY):
        if not data["base_image"]:
            errors["base_image"] = _("Choose the base image that each VM's disk starts from.")
        elif not Image.objects.filter(volume=data["base_image"], kind=ImageKind.BASE).exists():
            errors["base_image"] = _("No uploaded base image has the volume name '%(name)s'.") % {
                "name": data["base_image"]
            }
    if data["disk_source"] == DiskSource.OVERLAY and data["disk_format"] != DiskFormat.QCOW2:
        errors["disk_format"] = _("An overlay on a base image is always qcow2; choose qcow2.")
    if errors:
        raise ValidationError(errors)


def _sync_from_xml(data: dict[str, Any], xml: str) -> None:
    """The XML is the truth for the defaults it holds (memory, vCPUs, boot mode)."""
    current = read_settings(xml)
    data["default_memory_mib"] = current["memory_mib"]
    data["default_vcpus"] = current["vcpus"]
    data["boot_mode"] = current["boot_mode"]


def _prepare_xml(xml: str, settings: TemplateSettings | dict | None) -> str:
    dom = parse_domain(xml)
    check_schema(dom)
    strip_instance_parts(dom)  # an admin may paste a whole `virsh dumpxml`; per-VM parts never stay
    xml = dom.to_xml()
    if settings:
        xml = apply_settings(xml, settings)
        check_schema(xml, "domain_xml")
    return xml


def _create(user, **data: Any) -> VMTemplate:
    defaults = {f.name: f.get_default() for f in VMTemplate._meta.fields if f.name in LIMIT_FIELDS}
    data = {**defaults, **data}
    _sync_from_xml(data, data["domain_xml"])
    _check_limits(data)
    with transaction.atomic():
        template = VMTemplate.objects.create(version=1, **data)
        _record_version(template, user)
    return template


def create_template(
    user, *, name: str, domain_xml: str, settings: TemplateSettings | dict | None = None, **fields: Any
) -> VMTemplate:
    """A new template from XML plus typed settings; per-VM parts of the XML are removed first."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({"__all__": _("Unknown template fields: %(f)s.") % {"f": ", ".join(sorted(unknown))}})
    name = check_template_name(name)
    xml = _prepare_xml(domain_xml, settings)
    return _create(user, name=name, domain_xml=xml, **fields)


def update_template(
    template: VMTemplate,
    user,
    *,
    domain_xml: str | None = None,
    settings: TemplateSettings | dict | None = None,
    **fields: Any,
) -> VMTemplate:
    """Change a template; when anything changed the version goes up and the old content is kept."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({"__all__": _("Unknown template fields: %(f)s.") % {"f": ", ".join(sorted(unknown))}})
    if "name" in fields:
        fields["name"] = check_template_name(fields["name"], exclude_pk=template.pk)
    xml = _prepare_xml(domain_xml if domain_xml is not None else template.domain_xml, settings)
    data = {**{f: getattr(template, f) for f in EDITABLE_FIELDS}, **fields, "domain_xml": xml}
    _sync_from_xml(data, xml)
    _check_limits(data)
    changed = {k: v for k, v in data.items() if getattr(template, k) != v}
    if not changed:
        return template
    versioned = set(changed) - {"name", "description", "active"}
    with transaction.atomic():
        locked = VMTemplate.objects.select_for_update().get(pk=template.pk)
        for key, value in changed.items():
            setattr(locked, key, value)
        if versioned:
            locked.version += 1
        locked.save()
        if versioned:
            _record_version(locked, user)
    return locked


def _record_version(template: VMTemplate, user) -> TemplateVersion:
    return TemplateVersion.objects.create(
        template=template,
        version=template.version,
        domain_xml=template.domain_xml,
        limits=snapshot(template),
        created_by=user if user is not None and user.is_authenticated else None,
    )


def version_of(template: VMTemplate, version: int) -> TemplateVersion | None:
    return template.versions.filter(version=version).first()


# --- preview ---------------------------------------------------------------------------------------------


def _pool_path(conn) -> str:  # noqa: ANN001
    import libvirt

    try:
        pool = conn.storagePoolLookupByName(POOL)
        return etree.fromstring(pool.XMLDesc(0).encode()).findtext("target/path") or "/var/lib/libvirt/images"
    except libvirt.libvirtError:
        return "/var/lib/libvirt/images"


def volume_notes(dom: Domain, conn) -> list[str]:  # noqa: ANN001
    """Volumes the domain names in a pool that the host does not have: CD-ROMs are emptied, disks reported."""
    import libvirt

    notes = []
    for disk in dom.devices.disks:
        if disk.type != "volume" or not disk.source_pool or not disk.source_volume:
            continue
        try:
            conn.storagePoolLookupByName(disk.source_pool).storageVolLookupByName(disk.source_volume)
            continue
        except libvirt.libvirtError:
            pass
        if disk.removable:
            disk.eject()
            notes.append(
                _(
                    "The ISO '%(vol)s' is not on this host yet (copy it from the Images page); the CD-ROM "
                    "drive %(dev)s is left empty."
                )
                % {"vol": disk.source_volume, "dev": disk.target_dev}
            )
        else:
            notes.append(
                _("The volume '%(vol)s' (%(dev)s) is not on this host.")
                % {"vol": disk.source_volume, "dev": disk.target_dev}
            )
    return notes


def sample_spec(template: VMTemplate, pool_path: str) -> VMSpec:
    disk_path = None
    if template.disk_source != DiskSource.NONE:
        disk_path = f"{pool_path.rstrip('/')}/{disk_volume_name(PREVIEW_UUID, 0, template.disk_format)}"
    return VMSpec(
        PREVIEW_UUID,
        PREVIEW_NAME,
        template.default_vcpus,
        template.default_memory_mib,
        disk_path,
        template.disk_format,
        "",
    )


def preview(template: VMTemplate, host: Host) -> tuple[str, list[str]]:
    """The domain XML a VM from this template would get on `host`, and each change made to fit the host.

    Talks to the host: call it on an explicit request, never while rendering a list.
    """
    try:
        with connection(host.uri) as conn:
            spec = sample_spec(template, _pool_path(conn))
            dom = build_vm_domain(template.domain_xml, spec)
            notes = []
            if template.disk_source in (DiskSource.OVERLAY, DiskSource.COPY) and template.base_image:
                import libvirt

                try:
                    conn.storagePoolLookupByName(POOL).storageVolLookupByName(template.base_image)
                except libvirt.libvirtError:
                    notes.append(
                        _(
                            "The base image '%(vol)s' is not on this host yet; copy it there from the Images "
                            "page before creating VMs here."
                        )
                        % {"vol": template.base_image}
                    )
            notes += volume_notes(dom, conn)
            result = adapt_to_connection(dom, conn, virt_types=host.virt_types)
    except HypervisorError as exc:
        raise ValidationError({"host": str(exc)}) from None
    except DomainXMLError as exc:
        raise ValidationError(
            {"host": _("This template cannot run on %(host)s: %(why)s") % {"host": host.name, "why": exc}}
        ) from None
    adjustments = [a for a in result.adjustments if not (spec.disk_path and spec.disk_path in a)]
    if spec.disk_path:
        notes.append(
            _("Each VM gets its own %(fmt)s disk volume in the '%(pool)s' pool, made when the VM is created (%(how)s).")
            % {"fmt": template.disk_format, "pool": POOL, "how": DiskSource(template.disk_source).label}
        )
    if template.cloud_init:
        notes.append(_("A cloud-init seed CD-ROM (label cidata) is attached to each VM when it is created."))
    return result.xml, adjustments + notes
