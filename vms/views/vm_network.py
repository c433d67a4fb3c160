"""The Network tab: the VM's interfaces with their addresses; add, remove, link up or down.

Thin: the form offers what the host really has (vms.services.interfaces.offered_*), the service checks
and queues the job; the page re-reads the table when the job finishes and takes addresses live from
the watcher's `vm.addresses` messages (static/js/vm_network.js).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from jobs.errors import TargetBusy
from vms.choices import VMChange
from vms.hypervisor.nics import MODELS
from vms.models import VirtualMachine
from vms.selectors import visible_vm_or_404
from vms.services import interfaces as nic_services
from vms.views.vm_tabs import render_tab, say_refusal

MODEL_LABELS = {
    "virtio": gettext_lazy("virtio (fastest; Linux and drivers for Windows)"),
    "e1000": gettext_lazy("e1000 (Intel; any guest)"),
    "rtl8139": gettext_lazy("rtl8139 (Realtek; old guests)"),
}

NIC_CHANGES = (VMChange.INTERFACE_ADD, VMChange.INTERFACE_REMOVE, VMChange.INTERFACE_LINK)
# The service's error keys, as the form's fields (the rest are about the whole form).
FORM_FIELD = {"network": "target", "bridge": "target", "model": "model"}


class AddInterfaceForm(forms.Form):
    target = forms.ChoiceField(label=gettext_lazy("Connect to"))
    model = forms.ChoiceField(
        label=gettext_lazy("Model"), choices=[(m, MODEL_LABELS[m]) for m in MODELS], initial="virtio"
    )

    def __init__(self, *args, vm: VirtualMachine, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        networks = [(f"network:{n}", n) for n in nic_services.offered_networks(vm)]
        bridges = [(f"bridge:{b}", b) for b in nic_services.offered_bridges(vm)]
        choices = []
        if networks:
            choices.append((_("Networks"), networks))
        if bridges:
            choices.append((_("Bridges"), bridges))
        self.fields["target"].choices = choices
        self.fields["target"].help_text = _("The networks and bridges host %(host)s has (as of its last check).") % {
            "host": vm.host.name if vm.host else "—"
        }

    def where(self) -> dict:
        kind, _sep, name = self.cleaned_data["target"].partition(":")
        return {kind: name}


def _tab(request: HttpRequest, vm: VirtualMachine, form: AddInterfaceForm | None = None, status: int = 200):
    response = render_tab(
        request,
        vm,
        "network",
        {
            "interfaces": nic_services.interfaces_of(vm),
            "add_form": form or AddInterfaceForm(vm=vm),
            "job_kinds": [f"vm.{change}" for change in NIC_CHANGES],
        },
    )
    response.status_code = status
    return response


@login_required
@require_GET
def vm_network(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    return _tab(request, vm)


def _queued(request: HttpRequest, job, what: str) -> None:
    messages.success(request, _("%(what)s: job #%(job)s is on its way.") % {"what": what, "job": job.pk})


@login_required
@require_POST
def vm_interface_add(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    form = AddInterfaceForm(request.POST, vm=vm)
    if not form.is_valid():
        return _tab(request, vm, form, status=400)
    try:
        job = nic_services.add_interface(request.user, vm, model=form.cleaned_data["model"], **form.where())
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
        for field, found in errors.items():
            form.add_error(FORM_FIELD.get(field), found)
        return _tab(request, vm, form, status=400)
    except (PermissionDenied, TargetBusy) as exc:
        say_refusal(request, exc)
    else:
        _queued(request, job, _("Adding a network interface"))
    return redirect("vm-network", uuid=vm.uuid)


@login_required
@require_POST
def vm_interface_remove(request: HttpRequest, uuid, mac: str) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    try:
        job = nic_services.remove_interface(request.user, vm, mac)
    except (PermissionDenied, ValidationError, TargetBusy) as exc:
        say_refusal(request, exc)
    else:
        _queued(request, job, _("Removing interface %(mac)s") % {"mac": mac})
    return redirect("vm-network", uuid=vm.uuid)


@login_required
@require_POST
def vm_interface_link(request: HttpRequest, uuid, mac: str) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    up = request.POST.get("state") == "up"
    try:
        job = nic_services.set_link(request.user, vm, mac, up)
    except (PermissionDenied, ValidationError, TargetBusy) as exc:
        say_refusal(request, exc)
    else:
        what = _("Link of %(mac)s up") if up else _("Link of %(mac)s down")
        _queued(request, job, what % {"mac": mac})
    return redirect("vm-network", uuid=vm.uuid)
