"""A template's typed settings: declared once, read from and applied to its domain XML.

`SETTINGS` is the one declaration of the settings a template's domain XML offers to the form and the
REST API (memory, vCPUs, boot, lifecycle events, features, clock, network, consoles, CD-ROM, disk bus):
each `Setting` says its kind, label, help, limits and choices. The web layer builds the form fields
(`vms.forms`) and the serializer fields (`vms.api.templates`) from it, and the template services
(`vms.services.templates`) apply and read the values through `apply_settings` / `read_settings` here.

No Django here: labels, help and error messages are plain English, marked with `gettext_noop` so that
`makemessages` finds them; the web layer translates them (labels where fields are built, errors in
`vms.services.templates.apply_settings`, from `SettingError.message` and `.params`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass
from typing import Any

from .devices import Disk
from .errors import DomainXMLError
from .model import LIFECYCLE_ACTIONS, Domain
from .tree import insert_child, remove_element


def gettext_noop(message: str) -> str:
    """Marks a message for translation (makemessages knows this name); the web layer translates it."""
    return message


# --- the declaration --------------------------------------------------------------------------------

# Kinds of value: what the form and the API build for each.
INT = "int"  # a whole number within min..max
BOOL = "bool"  # a checkbox; never required
CHOICE = "choice"  # one of `choices`
TEXT = "text"  # one line of at most max_length characters
NOTE = "note"  # several lines of text
VOLUME = "volume"  # a volume name in the default pool, chosen from the uploaded images ("" = none)
DEVICES = "devices"  # an ordered list of `choices` (the boot order)

PYTHON_TYPES = {INT: int, BOOL: bool, CHOICE: str, TEXT: str, NOTE: str, VOLUME: str, DEVICES: list[str]}


@dataclass(frozen=True)
class Setting:
    """One editable setting: how the form and the API offer it, and the limits both check."""

    name: str  # the form field's and the API field's name
    kind: str
    label: str = ""  # English, marked with gettext_noop; translated where fields are built
    help: str = ""
    min: int | None = None  # INT: checked by the form and the API
    max: int | None = None
    form_min: int | None = None  # INT: where the page asks for more than the API (None: `min`/`max`)
    form_max: int | None = None
    max_length: int | None = None  # TEXT, VOLUME
    choices: tuple[tuple[str, str], ...] = ()  # CHOICE, DEVICES: (value, English label)
    required: bool = True  # the form needs a value (BOOL and VOLUME never do; the API never does)
    engine_checks: bool = False  # CHOICE: the API passes any text on and the engine refuses it, by name

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(value for value, _label in self.choices)

    @property
    def python_type(self) -> type:
        return PYTHON_TYPES[self.kind]


BIOS, KERNEL = "bios", "kernel"
POOL = "default"  # the storage pool a template's volumes (ISOs) are named in
# What a template's <name> holds: every VM gets its own name when it is made.
PLACEHOLDER_NAME = "template"

ACTION_LABELS = {
    "destroy": gettext_noop("Stop the VM"),
    "restart": gettext_noop("Restart the VM"),
    "preserve": gettext_noop("Keep it for debugging"),
    "rename-restart": gettext_noop("Rename and restart"),
    "coredump-destroy": gettext_noop("Dump core, then stop"),
    "coredump-restart": gettext_noop("Dump core, then restart"),
}


def _actions(event: str) -> tuple[tuple[str, str], ...]:
    return tuple((action, ACTION_LABELS.get(action, action)) for action in LIFECYCLE_ACTIONS[event])


PATH = 4096  # longest kernel/initrd path or command line

SETTINGS: tuple[Setting, ...] = (
    # <memory>: the most the guest can have (a VM's memory replaces it)
    Setting("memory_mib", INT, gettext_noop("Memory in MiB (default)"), min=1, form_min=16),
    # <currentMemory>: what it boots with; the balloon gives it up to memory
    Setting(
        "current_memory_mib",
        INT,
        gettext_noop("Memory at boot in MiB (current memory)"),
        gettext_noop(
            "At most the memory above; with a memory balloon the guest can be given the rest later. "
            "Empty: the same as the memory."
        ),
        min=1,
        form_min=16,
        required=False,
    ),
    Setting("vcpus", INT, gettext_noop("vCPUs (default)"), min=1, form_max=512),
    Setting(
        "boot_mode",
        CHOICE,
        gettext_noop("Boot"),
        choices=((BIOS, gettext_noop("BIOS (boot order)")), (KERNEL, gettext_noop("Direct kernel boot"))),
    ),
    Setting(
        "boot_order",
        DEVICES,
        gettext_noop("Boot from, first"),
        choices=(
            ("hd", gettext_noop("Hard disk")),
            ("cdrom", gettext_noop("CD-ROM")),
            ("network", gettext_noop("Network (PXE)")),
            ("fd", gettext_noop("Floppy")),
        ),
        required=False,
    ),
    Setting("boot_menu", BOOL, gettext_noop("Show the boot menu")),
    Setting("kernel", TEXT, gettext_noop("Kernel path on the hosts"), max_length=PATH, required=False),
    Setting("initrd", TEXT, gettext_noop("Initrd path on the hosts"), max_length=PATH, required=False),
    Setting("cmdline", TEXT, gettext_noop("Kernel command line"), max_length=PATH, required=False),
    Setting(
        "on_poweroff",
        CHOICE,
        gettext_noop("When the guest powers off"),
        choices=_actions("on_poweroff"),
        engine_checks=True,
    ),
    Setting(
        "on_reboot", CHOICE, gettext_noop("When the guest reboots"), choices=_actions("on_reboot"), engine_checks=True
    ),
    Setting(
        "on_crash", CHOICE, gettext_noop("When the guest crashes"), choices=_actions("on_crash"), engine_checks=True
    ),
    Setting("acpi", BOOL, gettext_noop("ACPI (power button, shutdown)")),
    Setting("apic", BOOL, gettext_noop("APIC")),
    Setting("pae", BOOL, gettext_noop("PAE (32-bit guests with more than 4 GiB)")),
    Setting(
        "clock_offset",
        CHOICE,
        gettext_noop("Clock"),
        choices=(("utc", gettext_noop("UTC")), ("localtime", gettext_noop("Host local time (Windows guests)"))),
    ),
    Setting(
        "network_kind",
        CHOICE,
        gettext_noop("Network"),
        choices=(
            ("none", gettext_noop("No network")),
            ("user", gettext_noop("User-mode (outgoing only, no set-up)")),
            ("network", gettext_noop("libvirt network")),
            ("bridge", gettext_noop("Host bridge")),
        ),
    ),
    Setting("network_source", TEXT, gettext_noop("Bridge or network name"), max_length=200, required=False),
    Setting(
        "graphics",
        CHOICE,
        gettext_noop("Graphical console"),
        choices=(
            ("none", gettext_noop("None (serial console only)")),
            ("vnc", gettext_noop("VNC")),
            ("spice", gettext_noop("SPICE")),
        ),
    ),
    Setting("serial_console", BOOL, gettext_noop("Serial console")),
    # a volume name in the default pool; "" = no CD-ROM medium
    Setting("cdrom_iso", VOLUME, gettext_noop("CD-ROM"), max_length=255),
    Setting(
        "disk_bus",
        CHOICE,
        gettext_noop("Disk bus"),
        choices=(
            ("virtio", gettext_noop("virtio (fastest; Linux)")),
            ("sata", gettext_noop("SATA")),
            ("scsi", gettext_noop("SCSI")),
            ("ide", gettext_noop("IDE (old guests)")),
        ),
    ),
)
SETTING = {s.name: s for s in SETTINGS}
SETTING_NAMES = tuple(SETTING)

BOOT_MODES = SETTING["boot_mode"].values
BOOT_DEVICES = SETTING["boot_order"].values
NETWORK_KINDS = SETTING["network_kind"].values
GRAPHICS_KINDS = SETTING["graphics"].values
DISK_BUSES = SETTING["disk_bus"].values
CLOCK_OFFSETS = SETTING["clock_offset"].values
_BUS_PREFIX = {"virtio": "vd", "sata": "sd", "scsi": "sd", "ide": "hd", "usb": "sd"}

# The typed values, one attribute per setting (None = leave as it is).
TemplateSettings = make_dataclass(
    "TemplateSettings",
    [(s.name, s.python_type | None, field(default=None)) for s in SETTINGS],
    namespace={
        "__module__": __name__,
        "__doc__": "The typed parts of a template's domain XML that the form and the API edit.",
    },
)


class SettingError(DomainXMLError):
    """A value one setting cannot take: `message` is English (marked for translation), `params` fill it."""

    def __init__(self, message: str, **params: Any) -> None:
        self.message = message
        self.params = params
        super().__init__(message % params if params else message)


class SettingsError(DomainXMLError):
    """Settings the XML could not take: `errors` maps each setting's name to its DomainXMLError."""

    def __init__(self, errors: dict[str, DomainXMLError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {exc}" for name, exc in errors.items()))


# --- a new template ------------------------------------------------------------------------------------


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


# --- reading ----------------------------------------------------------------------------------------


def boot_mode_of(dom: Domain) -> str:
    return KERNEL if dom.os.kernel else BIOS


def read_settings(xml: str | Domain) -> dict[str, Any]:
    """Every setting's current value in the XML, keyed by setting name."""
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
        "boot_mode": boot_mode_of(dom),
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


# --- applying ---------------------------------------------------------------------------------------


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingError(gettext_noop("Choose one of: %(values)s."), values=", ".join(allowed))
    return value


def _free_target(dom: Domain, prefix: str, skip: Disk | None = None) -> str:
    used = {d.target_dev for d in dom.devices.disks if skip is None or d.element is not skip.element}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        if prefix + letter not in used:
            return prefix + letter
    raise DomainXMLError("no free disk target name is left")


def _apply_boot(dom: Domain, s: Any) -> None:
    mode = s.boot_mode or boot_mode_of(dom)
    if mode == KERNEL:
        kernel = s.kernel if s.kernel is not None else dom.os.kernel
        if not kernel:
            raise SettingError(gettext_noop("Direct kernel boot needs the path of a kernel on the hosts."))
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
    _choice(kind, NETWORK_KINDS)
    ifaces = dom.devices.interfaces
    if kind == "none":
        for iface in ifaces:
            dom.devices.remove(iface)
        return
    if kind in ("bridge", "network") and not source:
        raise SettingError(gettext_noop("Name the bridge or libvirt network the VM's interface joins."))
    iface = ifaces[0] if ifaces else dom.devices.add_interface("user", model="virtio")
    if kind == "user":
        iface.use_user_networking()
    elif kind == "bridge":
        iface.connect_to_bridge(source)
    else:
        iface.connect_to_network(source)


def _apply_graphics(dom: Domain, kind: str) -> None:
    _choice(kind, GRAPHICS_KINDS)
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
    _choice(bus, DISK_BUSES)
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
            raise SettingError(
                gettext_noop("The current memory (%(current)d MiB) cannot be more than the memory (%(max)d MiB)."),
                current=current // 1024,
                max=maximum // 1024,
            )
    elif old_current is None or old_max is None or old_current >= old_max:
        current = maximum  # no balloon before: the guest keeps booting with all of its memory
    else:
        current = min(old_current, maximum) if maximum is not None else old_current
    if current is not None and (wanted_mib is not None or current != old_current):
        dom.current_memory = f"{current}KiB"


def apply_settings(xml: str, settings: Any) -> str:
    """The XML with the given typed settings applied (None = leave as is).

    `settings` is a TemplateSettings or a dict of setting names. Raises SettingsError naming each
    setting that was refused, with the engine's reason; the XML is then left as it was.
    """
    s = settings if isinstance(settings, TemplateSettings) else TemplateSettings(**settings)
    dom = Domain.from_xml(xml)
    errors: dict[str, DomainXMLError] = {}

    def attempt(name: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except DomainXMLError as exc:
            errors[name] = exc

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
        attempt("kernel" if s.boot_mode == KERNEL else "boot_order", lambda: _apply_boot(dom, s))
    for event in LIFECYCLE_ACTIONS:
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
        raise SettingsError(errors)
    return dom.to_xml()
