"""How a VM boots: the boot order and menu of a BIOS-boot VM, the kernel of a kernel-boot VM.

Both change the persistent config (vms/runners/boot.py), effective at the next boot. The boot order
may be changed by anyone who may change the VM; the kernel, initrd and command line only by admins
(they name files on the host and pass arguments to the kernel).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit import log as audit_log
from audit.choices import AuditResult
from jobs.models import Job
from vms.choices import VMChange
from vms.domainxml.boot import MAX_CMDLINE, MAX_PATH, ORDER_DEVICES, BootSummary, boot_summary
from vms.models import VirtualMachine
from vms.permissions import is_admin
from vms.services.changes import request_change

DEVICE_LABELS = {"hd": gettext_lazy("Disk"), "cdrom": gettext_lazy("CD-ROM"), "network": gettext_lazy("Network (PXE)")}


def device_label(dev: str) -> str:
    return str(DEVICE_LABELS.get(dev, dev))


def summary(vm: VirtualMachine) -> BootSummary | None:
    """How the VM boots, read from its saved XML (pages never ask libvirt)."""
    return boot_summary(vm.domain_xml)


def clean_order(order) -> list[str]:  # noqa: ANN001
    if isinstance(order, str) or not isinstance(order, list | tuple):
        raise ValidationError({"order": _("The boot order must be a list of devices.")})
    if not order:
        raise ValidationError({"order": _("Choose at least one boot device.")})
    for dev in order:
        if dev not in ORDER_DEVICES:
            raise ValidationError(
                {"order": _("'%(dev)s' is not a boot device; use hd, cdrom or network.") % {"dev": dev}}
            )
    if len(set(order)) != len(order):
        raise ValidationError({"order": _("Each boot device can be listed only once.")})
    return list(order)


def _current(vm: VirtualMachine, field: str) -> BootSummary:
    current = summary(vm)
    if current is None:
        raise ValidationError({field: _("This VM has no saved configuration yet.")})
    return current


def change_boot_order(user, vm: VirtualMachine, order, menu: bool) -> Job:  # noqa: ANN001
    """Queue the boot order change (a list of hd/cdrom/network, each once) and the boot menu."""
    order = clean_order(order)
    if _current(vm, "order").mode == "kernel":
        raise ValidationError(
            {"order": _("This VM boots a kernel directly, so it has no boot order; change its kernel instead.")}
        )
    return request_change(user, vm, VMChange.BOOT, {"order": order, "menu": bool(menu)})


def _clean_path(value: str, field: str, label: str, required: bool) -> str:
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationError({field: _("%(what)s is required.") % {"what": label}})
        return ""
    if any(ch in value for ch in "\n\r\x00") or any(ord(ch) < 32 for ch in value):
        raise ValidationError({field: _("%(what)s must be one line without control characters.") % {"what": label}})
    if not value.startswith("/"):
        raise ValidationError({field: _("%(what)s must be an absolute path (starting with /).") % {"what": label}})
    if len(value) > MAX_PATH:
        raise ValidationError({field: _("%(what)s is too long.") % {"what": label}})
    return value


def clean_kernel(kernel: str, initrd: str, cmdline: str) -> dict:
    """The kernel boot values, checked (ValidationError naming the field), as the job's params."""
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    for field, label, value, required in (
        ("kernel", _("The kernel"), kernel, True),
        ("initrd", _("The initrd"), initrd, False),
    ):
        try:
            values[field] = _clean_path(value, field, label, required)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    line = (cmdline or "").strip()
    if any(ord(ch) < 32 or ch == "\x7f" for ch in line):
        errors["cmdline"] = _("The command line must be one line without control characters.")
    elif len(line) > MAX_CMDLINE:
        errors["cmdline"] = _("The command line is longer than %(max)s characters.") % {"max": MAX_CMDLINE}
    values["cmdline"] = line
    if errors:
        raise ValidationError(errors)
    return values


def refuse_unless_admin(user, vm: VirtualMachine, change: str, reason: str) -> None:  # noqa: ANN001
    if not is_admin(user):
        audit_log.record(user, f"vm.{change}", vm, AuditResult.REFUSED, reason=reason)
        raise PermissionDenied(reason)


def change_kernel(user, vm: VirtualMachine, kernel: str, initrd: str, cmdline: str) -> Job:  # noqa: ANN001
    """Queue the change of a kernel-boot VM's kernel, initrd and command line (admins only)."""
    refuse_unless_admin(user, vm, VMChange.KERNEL, _("Only admins change how a VM boots its kernel."))
    params = clean_kernel(kernel, initrd, cmdline)
    if _current(vm, "kernel").mode != "kernel":
        raise ValidationError({"kernel": _("This VM boots from its boot order, not from a kernel.")})
    return request_change(user, vm, VMChange.KERNEL, params)
