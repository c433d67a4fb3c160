"""How a domain boots, read and changed: the BIOS boot order and menu, or a directly booted kernel.

Two ways of saying the boot order exist in libvirt: `<os><boot dev=.../>` and a `<boot order=N/>`
inside each device; libvirt refuses a domain that has both. `boot_summary` reads either; the
setters always write the `<os>` form and drop the per-device one, so the result defines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InvalidValueError
from .model import Domain
from .text import check_line
from .tree import remove_element

# What a user orders (floppies are not offered: no template has one).
ORDER_DEVICES = ("hd", "cdrom", "network")
# Linux's own limit on x86 is 2048 bytes; a longer line would be cut by the kernel anyway.
MAX_CMDLINE = 2048
MAX_PATH = 4096


@dataclass(frozen=True)
class BootSummary:
    """`mode` 'bios' (order and menu) or 'kernel' (kernel, initrd, cmdline)."""

    mode: str
    order: tuple[str, ...] = ()
    menu: bool = False
    kernel: str = ""
    initrd: str = ""
    cmdline: str = ""

    def as_dict(self) -> dict:
        if self.mode == "kernel":
            return {"mode": "kernel", "kernel": self.kernel, "initrd": self.initrd, "cmdline": self.cmdline}
        return {"mode": "bios", "order": list(self.order), "menu": self.menu}


def _device_kind(device) -> str | None:  # noqa: ANN001
    if device.tag == "disk":
        return "cdrom" if device.element.get("device") == "cdrom" else "hd"
    if device.tag == "interface":
        return "network"
    return None


def _per_device_order(dom: Domain) -> list[str]:
    ranked = []
    for device in dom.devices.all():
        kind = _device_kind(device)
        if kind is not None and device.boot_order is not None:
            ranked.append((device.boot_order, kind))
    order: list[str] = []
    for _rank, kind in sorted(ranked):
        if kind not in order:
            order.append(kind)
    return order


def summary_of(dom: Domain) -> BootSummary:
    os = dom.os
    if os.kernel:
        return BootSummary("kernel", kernel=os.kernel or "", initrd=os.initrd or "", cmdline=os.cmdline or "")
    order = [d for d in os.boot_devices if d in ORDER_DEVICES] or _per_device_order(dom) or ["hd"]
    return BootSummary("bios", order=tuple(order), menu=bool(os.bootmenu_enabled))


def boot_summary(xml: str) -> BootSummary | None:
    """How the domain in `xml` boots; None when there is no (readable) XML, e.g. a VM not made yet."""
    if not xml:
        return None
    try:
        return summary_of(Domain.from_xml(xml))
    except ValueError:
        return None


def clean_order(order: Iterable[str]) -> list[str]:
    """The order as a list, or InvalidValueError: only hd/cdrom/network, each once, at least one."""
    if isinstance(order, str) or not isinstance(order, Iterable):
        raise InvalidValueError("the boot order must be a list of devices")
    devices = list(order)
    if not devices:
        raise InvalidValueError("the boot order needs at least one device")
    for dev in devices:
        if dev not in ORDER_DEVICES:
            raise InvalidValueError(f"'{dev}' is not a boot device; use {', '.join(ORDER_DEVICES)}")
    if len(set(devices)) != len(devices):
        raise InvalidValueError("each boot device can be listed only once")
    return devices


def set_boot_order(dom: Domain, order: Iterable[str], menu: bool) -> None:
    """`<os><boot dev=...>` in this order and `<bootmenu enable=...>`; per-device orders removed."""
    devices = clean_order(order)
    for device in dom.devices.all():
        for boot in device.element.findall("boot"):
            remove_element(boot)
    dom.os.boot_devices = devices
    dom.os.bootmenu_enabled = bool(menu)


def clean_path(value: str, field: str, required: bool) -> str | None:
    """An absolute path on the host, one line, or None when empty and not required."""
    value = check_line(value if value is not None else "", field).strip()
    if not value:
        if required:
            raise InvalidValueError(f"{field} is required")
        return None
    if not value.startswith("/"):
        raise InvalidValueError(f"{field} must be an absolute path (starting with /)")
    if len(value) > MAX_PATH:
        raise InvalidValueError(f"{field} is longer than {MAX_PATH} characters")
    return value


def clean_cmdline(value: str) -> str | None:
    value = check_line(value if value is not None else "", "kernel command line").strip()
    if len(value) > MAX_CMDLINE:
        raise InvalidValueError(f"the kernel command line is longer than {MAX_CMDLINE} characters")
    return value or None


def set_kernel(dom: Domain, kernel: str, initrd: str, cmdline: str) -> None:
    """Direct kernel boot with these values (an empty initrd or cmdline removes it). Values are
    element text set through lxml: a command line can never become markup."""
    dom.os.kernel = clean_path(kernel, "kernel", required=True)
    dom.os.initrd = clean_path(initrd, "initrd", required=False)
    dom.os.cmdline = clean_cmdline(cmdline)
