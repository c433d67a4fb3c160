"""A registry of scalar fields that can be set by name (for the CLI's --set and the web layer).

Each entry names where the typed property lives on the model and how to read a user's string.
To add a field: add a property to the model, then one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InvalidValueError, UnknownFieldError
from .fields import bool_from_user
from .model import Domain


def _int(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise InvalidValueError(f"'{value}' is not a whole number") from None


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@dataclass(frozen=True)
class SettableField:
    target: str  # dotted attribute path on Domain, e.g. 'os.machine'
    parse: Callable[[str], Any]
    help: str
    required: bool = False  # an empty value may not remove it

    def owner_and_attr(self, domain: Domain) -> tuple[Any, str]:
        *path, attr = self.target.split(".")
        owner: Any = domain
        for step in path:
            owner = getattr(owner, step)
        return owner, attr


def _text(value: str) -> str:
    return value


SETTABLE: dict[str, SettableField] = {
    "name": SettableField("name", _text, "domain name", required=True),
    "uuid": SettableField("uuid", _text, "RFC 4122 UUID"),
    "title": SettableField("title", _text, "one-line title"),
    "description": SettableField("description", _text, "free text"),
    "type": SettableField("type", _text, "domain type (kvm, qemu, ...)", required=True),
    "memory": SettableField("memory", _text, "maximum memory, e.g. 2GiB (plain number: KiB)"),
    "current_memory": SettableField("current_memory", _text, "memory at boot, e.g. 1GiB"),
    "max_memory": SettableField("max_memory", _text, "hotplug memory limit, e.g. 8GiB"),
    "max_memory_slots": SettableField("max_memory_slots", _int, "hotplug memory slots"),
    "vcpu": SettableField("vcpu", _int, "number of vCPUs", required=True),
    "vcpu_current": SettableField("vcpu_current", _int, "vCPUs online at boot"),
    "vcpu_placement": SettableField("vcpu_placement", _text, "static or auto"),
    "vcpu_cpuset": SettableField("vcpu_cpuset", _text, "host CPUs, e.g. 0-3,^2"),
    "on_poweroff": SettableField("on_poweroff", _text, "action on guest power-off"),
    "on_reboot": SettableField("on_reboot", _text, "action on guest reboot"),
    "on_crash": SettableField("on_crash", _text, "action on guest crash"),
    "os_type": SettableField("os.type", _text, "hvm, linux, ..."),
    "arch": SettableField("os.arch", _text, "guest architecture, e.g. x86_64"),
    "machine": SettableField("os.machine", _text, "machine type, e.g. pc or q35"),
    "boot": SettableField("os.boot_devices", _list, "boot order, comma-separated: hd,cdrom,network,fd"),
    "bootmenu": SettableField("os.bootmenu_enabled", bool_from_user, "show the boot menu (yes/no)"),
    "bootmenu_timeout": SettableField("os.bootmenu_timeout", _int, "boot menu timeout in ms"),
    "loader": SettableField("os.loader", _text, "firmware path"),
    "kernel": SettableField("os.kernel", _text, "kernel path for direct boot"),
    "initrd": SettableField("os.initrd", _text, "initrd path for direct boot"),
    "cmdline": SettableField("os.cmdline", _text, "kernel command line"),
    "cpu_mode": SettableField("cpu.mode", _text, "custom, host-model, host-passthrough, maximum"),
    "cpu_model": SettableField("cpu.model", _text, "CPU model name for mode custom"),
    "clock_offset": SettableField("clock.offset", _text, "utc, localtime, timezone, variable"),
    "acpi": SettableField("features.acpi", bool_from_user, "ACPI (yes/no)"),
    "apic": SettableField("features.apic", bool_from_user, "APIC (yes/no)"),
    "pae": SettableField("features.pae", bool_from_user, "PAE (yes/no)"),
    "hap": SettableField("features.hap", bool_from_user, "hardware-assisted paging (yes/no)"),
    "emulator": SettableField("devices.emulator", _text, "emulator binary path"),
}
# libvirt's element names work too, so users can type what they see in the XML.
ALIASES = {"currentMemory": "current_memory", "maxMemory": "max_memory", "os": "os_type"}


def settable_fields() -> list[str]:
    return sorted(SETTABLE)


def _spec(name: str) -> SettableField:
    spec = SETTABLE.get(ALIASES.get(name, name))
    if spec is None:
        raise UnknownFieldError(f"unknown field '{name}'; known fields: {', '.join(settable_fields())}")
    return spec


def get_field(domain: Domain, name: str) -> Any:
    owner, attr = _spec(name).owner_and_attr(domain)
    return getattr(owner, attr)


def set_field(domain: Domain, name: str, value: str | None) -> None:
    """Set one field from a user's string; '' or None removes an optional field."""
    spec = _spec(name)
    owner, attr = spec.owner_and_attr(domain)
    if value is None or value == "":
        if spec.required:
            raise InvalidValueError(f"{name} cannot be empty")
        setattr(owner, attr, [] if attr == "boot_devices" else None)
        return
    setattr(owner, attr, spec.parse(value))


def parse_assignment(text: str) -> tuple[str, str]:
    """'memory=2GiB' -> ('memory', '2GiB')."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InvalidValueError(f"'{text}' is not FIELD=VALUE")
    return name.strip(), value
