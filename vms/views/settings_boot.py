"""The Settings tab's boot part (boot order, or the kernel for admins) and, for admins, the domain XML
(view, edit with a diff preview, history with restore). `boot_and_xml_context` is what the Settings
page shows of them; the POST views here queue the changes through the services and come back to it.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from jobs.registry import label_for
from vms.choices import VMState
from vms.domainxml.boot import ORDER_DEVICES
from vms.models import VirtualMachine
from vms.permissions import can_operate_vm, is_admin
from vms.selectors import visible_vm_or_404
from vms.services import vm_boot, vm_xml
from vms.views.vm_tabs import render_tab

NONE_CHOICE = [("", gettext_lazy("(none)"))]


def _device_choices(optional: bool) -> list[tuple[str, str]]:
    devices = [(dev, vm_boot.DEVICE_LABELS[dev]) for dev in ORDER_DEVICES]
    return (NONE_CHOICE if optional else []) + devices


class BootOrderForm(forms.Form):
    """The boot order as three ordered choices (the second and third may be empty) and the menu."""

    first = forms.ChoiceField(label=gettext_lazy("First"), choices=_device_choices(False))
    second = forms.ChoiceField(label=gettext_lazy("Second"), choices=_device_choices(True), required=False)
    third = forms.ChoiceField(label=gettext_lazy("Third"), choices=_device_choices(True), required=False)
    menu = forms.BooleanField(
        label=gettext_lazy("Boot menu"),
        required=False,
        help_text=gettext_lazy("Lets you pick the boot device on the console while the VM starts."),
    )

    @classmethod
    def for_summary(cls, summary) -> BootOrderForm:  # noqa: ANN001
        order = list(summary.order) + ["", ""]
        return cls(initial={"first": order[0], "second": order[1], "third": order[2], "menu": summary.menu})

    def order(self) -> list[str]:
        return [self.cleaned_data[f] for f in ("first", "second", "third") if self.cleaned_data.get(f)]


class KernelForm(forms.Form):
    kernel = forms.CharField(label=gettext_lazy("Kernel"), max_length=4096, strip=False)
    initrd = forms.CharField(label=gettext_lazy("Initrd"), max_length=4096, required=False, strip=False)
    cmdline = forms.CharField(label=gettext_lazy("Kernel command line"), max_length=2048, required=False, strip=False)


class DomainXMLForm(forms.Form):
    xml = forms.CharField(
        label=gettext_lazy("Domain XML"),
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "class": "mono"}),
        strip=False,
        help_text=gettext_lazy("Keep the UUID and name. Display passwords are not shown; the current ones are kept."),
    )
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)


def _apply_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's ValidationError onto the form: on the field it names, else on the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            target = field if field in form.fields else None
            for message in errors:
                form.add_error(target, message)
    else:
        for message in exc.messages:
            form.add_error(None, message)


def boot_and_xml_context(request: HttpRequest, vm: VirtualMachine, **forms_given) -> dict:  # noqa: ANN003
    """What the boot and domain XML parts of the Settings tab show; `forms_given` replaces the blank
    forms (a form with errors, the XML preview)."""
    summary = vm_boot.summary(vm)
    admin = is_admin(request.user)
    context: dict = {
        "boot": summary,
        "boot_order_labels": [vm_boot.device_label(d) for d in summary.order] if summary else [],
        "boot_may_change": can_operate_vm(request.user, vm) and not vm.run_once and vm.state != VMState.DELETED,
        "boot_may_change_kernel": admin and not vm.run_once and vm.state != VMState.DELETED,
        "boot_running": vm.state in (VMState.RUNNING, VMState.PAUSED),
    }
    if summary is not None and summary.mode == "bios":
        context["boot_form"] = forms_given.get("boot_form") or BootOrderForm.for_summary(summary)
    if summary is not None and summary.mode == "kernel" and admin:
        context["kernel_form"] = forms_given.get("kernel_form") or KernelForm(
            initial={"kernel": summary.kernel, "initrd": summary.initrd, "cmdline": summary.cmdline}
        )
    if admin:
        context.update(
            {
                "xml_form": forms_given.get("xml_form") or DomainXMLForm(initial={"xml": vm.domain_xml}),
                "xml_preview": forms_given.get("xml_preview"),
                "xml_versions": vm_xml.versions(vm),
                "xml_may_edit": not vm.run_once and vm.state != VMState.DELETED,
            }
        )
    return context


def _back(vm: VirtualMachine, part: str) -> HttpResponse:
    return redirect(reverse("vm-settings", args=[vm.uuid]) + f"#{part}")


def _again(request: HttpRequest, vm: VirtualMachine, status: int = 400, **forms_given) -> HttpResponse:  # noqa: ANN003
    response = render_tab(request, vm, "settings", boot_and_xml_context(request, vm, **forms_given))
    response.status_code = status
    return response


def _queued(request: HttpRequest, job) -> None:  # noqa: ANN001
    what = label_for(job.kind)
    messages.success(request, _("Queued: %(what)s. Follow the job in the list of jobs.") % {"what": what})


@login_required
@require_POST
def vm_boot_order(request: HttpRequest, uuid) -> HttpResponse:  # noqa: ANN001
    vm = visible_vm_or_404(request.user, uuid)
    form = BootOrderForm(request.POST)
    if form.is_valid():
        try:
            job = vm_boot.change_boot_order(request.user, vm, form.order(), form.cleaned_data["menu"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            _queued(request, job)
            return _back(vm, "settings-boot")
    return _again(request, vm, boot_form=form)


@login_required
@require_POST
def vm_kernel(request: HttpRequest, uuid) -> HttpResponse:  # noqa: ANN001
    vm = visible_vm_or_404(request.user, uuid)
    if not is_admin(request.user):
        raise PermissionDenied(_("Only admins change how a VM boots its kernel."))
    form = KernelForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            job = vm_boot.change_kernel(request.user, vm, data["kernel"], data["initrd"], data["cmdline"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            _queued(request, job)
            return _back(vm, "settings-boot")
    return _again(request, vm, kernel_form=form)


@login_required
@require_POST
def vm_xml_preview(request: HttpRequest, uuid) -> HttpResponse:  # noqa: ANN001
    """Step one of an edit (or of a restore, with `version`): the diff, and a form to confirm it."""
    vm = visible_vm_or_404(request.user, uuid)
    if not is_admin(request.user):
        raise PermissionDenied(_("Only admins edit a VM's domain XML."))
    data = request.POST.copy()
    if data.get("version"):
        try:
            data["xml"] = vm_xml.version_xml(vm, int(data["version"]))
            data["note"] = _("Restored version %(n)s") % {"n": int(data["version"])}
        except (ValueError, ValidationError):
            messages.error(request, _("There is no such version of this VM's XML."))
            return _back(vm, "settings-xml")
    form = DomainXMLForm(data)
    if form.is_valid():
        try:
            preview = vm_xml.preview_edit(request.user, vm, form.cleaned_data["xml"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            return _again(request, vm, status=200, xml_form=form, xml_preview=preview)
    return _again(request, vm, xml_form=form)


@login_required
@require_POST
def vm_xml_apply(request: HttpRequest, uuid) -> HttpResponse:  # noqa: ANN001
    """Step two: apply exactly what the preview showed (refused if the saved XML changed since)."""
    vm = visible_vm_or_404(request.user, uuid)
    if not is_admin(request.user):
        raise PermissionDenied(_("Only admins edit a VM's domain XML."))
    form = DomainXMLForm(request.POST)
    if form.is_valid():
        try:
            data = form.cleaned_data
            base = request.POST.get("base", "")
            job = vm_xml.edit_xml(request.user, vm, data["xml"], base=base, note=data["note"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            _queued(request, job)
            return _back(vm, "settings-xml")
    return _again(request, vm, xml_form=form)
