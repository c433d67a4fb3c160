"""The Disks and media tab: disks (add, detach, grow), the CD-ROM (insert an ISO, eject, add a drive).

Thin: the page reads the database's copy of the VM's domain XML (through vms.services.disks), and each
form posts to `vm_disks_change`, which calls one service; the job then shows on the tab's timeline.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from vms.domainxml.disks import DATA_DISK_BUSES
from vms.selectors import visible_vm_or_404
from vms.services import disks as disk_services
from vms.views.vm_tabs import render_tab, say_refusal


@login_required
@require_GET
def vm_disks(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    rows = disk_services.disk_rows(vm)
    system = disk_services.system_target(vm)
    disks = [{**r, "system": r["target"] == system, "own": disk_services.is_own_volume(vm, r["volume"])} for r in rows]
    return render_tab(
        request,
        vm,
        "disks",
        {
            "disks": [d for d in disks if d["device"] == "disk"],
            "cdrom": disk_services.cdrom_info(vm),
            "isos": disk_services.insertable_isos(request.user),
            "buses": DATA_DISK_BUSES,
            "max_disk_gib": vm.template.max_disk_gib if vm.template else None,
            "kept_volumes": vm.detached_volumes or [],
        },
    )


def _change(request: HttpRequest, vm):
    op = request.POST.get("op", "")
    post = request.POST
    if op == "add":
        return disk_services.add_disk(request.user, vm, post.get("size_gib", ""), post.get("bus", ""))
    if op == "detach":
        keep = post.get("volume") != "delete"
        return disk_services.detach_disk(request.user, vm, post.get("target", ""), delete_volume=not keep)
    if op == "resize":
        return disk_services.resize_disk(request.user, vm, post.get("target", ""), post.get("size_gib", ""))
    if op == "insert":
        return disk_services.insert_iso(request.user, vm, post.get("image", ""))
    if op == "eject":
        return disk_services.eject_iso(request.user, vm)
    if op == "cdrom-add":
        return disk_services.add_cdrom(request.user, vm)
    raise ValidationError(_("Unknown change."))


@login_required
@require_POST
def vm_disks_change(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    try:
        job = _change(request, vm)
    except (PermissionDenied, ValidationError) as exc:
        say_refusal(request, exc)
    else:
        messages.success(request, _("Change requested for %(name)s (job #%(job)s).") % {"name": vm.name, "job": job.pk})
    return redirect("vm-disks", uuid=vm.uuid)
