"""The Snapshots tab: the VM's snapshots as a tree, the current one marked; take, revert, delete.

The page reads the VMSnapshot rows (each snapshot job rewrites them from libvirt); the rules are
vms/services/snapshots.py's, and every refusal is said on the page as the service words it.
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
from vms.choices import GONE_STATES
from vms.models import VirtualMachine
from vms.permissions import can_operate_vm
from vms.selectors import visible_vm_or_404
from vms.services import snapshots as snapshot_services
from vms.views.vm_tabs import render_tab, say_refusal


class SnapshotForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=63,
        help_text=gettext_lazy("Letters, digits, dots, hyphens or underscores, e.g. before-upgrade."),
    )
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        max_length=snapshot_services.DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def create_refusal(user, vm: VirtualMachine) -> str | None:
    """Why this user cannot take a snapshot of this VM now (the form is then not offered), or None."""
    if vm.state in GONE_STATES:
        return _("This VM was deleted.")
    if not can_operate_vm(user, vm):
        return _("This VM is shared with you to view only: you see its snapshots but cannot change them.")
    if vm.run_once:
        return _("A run-once VM has no saved configuration, so it cannot take snapshots.")
    return snapshot_services.refusal(vm)


def _render(request: HttpRequest, vm: VirtualMachine, form: SnapshotForm | None = None, status: int = 200):
    tree = snapshot_services.snapshot_tree(vm)
    may_change = can_operate_vm(request.user, vm) and vm.state not in GONE_STATES and not vm.run_once
    response = render_tab(
        request,
        vm,
        "snapshots",
        {
            "tree": tree,
            "form": form or SnapshotForm(),
            "refusal": create_refusal(request.user, vm),
            "may_change_snapshots": may_change,
            "limit": snapshot_services.snapshot_limit(vm),
            "count": vm.snapshots.count(),
        },
    )
    response.status_code = status
    return response


@login_required
@require_GET
def vm_snapshots(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    return _render(request, vm)


@login_required
@require_POST
def snapshot_create(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    form = SnapshotForm(request.POST)
    if not form.is_valid():
        return _render(request, vm, form, status=400)
    try:
        job = snapshot_services.take_snapshot(
            request.user, vm, form.cleaned_data["name"], form.cleaned_data["description"]
        )
    except (PermissionDenied, TargetBusy) as exc:
        say_refusal(request, exc)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _render(request, vm, form, status=400)
    else:
        messages.success(
            request,
            _("Snapshot '%(name)s' requested (job #%(job)s).") % {"name": form.cleaned_data["name"], "job": job.pk},
        )
    return redirect("vm-snapshots", uuid=vm.uuid)


@login_required
@require_POST
def snapshot_revert(request: HttpRequest, uuid, name: str) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    try:
        job = snapshot_services.revert_to_snapshot(request.user, vm, name)
    except (PermissionDenied, ValidationError, TargetBusy) as exc:
        say_refusal(request, exc)
    else:
        messages.success(request, _("Revert to '%(name)s' requested (job #%(job)s).") % {"name": name, "job": job.pk})
    return redirect("vm-snapshots", uuid=vm.uuid)


@login_required
@require_POST
def snapshot_delete(request: HttpRequest, uuid, name: str) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    children = request.POST.get("children") == "1"
    try:
        job = snapshot_services.delete_snapshot(request.user, vm, name, children=children)
    except (PermissionDenied, ValidationError, TargetBusy) as exc:
        say_refusal(request, exc)
    else:
        messages.success(request, _("Deleting snapshot '%(name)s' (job #%(job)s).") % {"name": name, "job": job.pk})
    return redirect("vm-snapshots", uuid=vm.uuid)
