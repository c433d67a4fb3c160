"""The Disks and media tab: disks (add, detach, grow), the CD-ROM (insert an ISO, eject), boot order."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from vms.selectors import visible_vm_or_404
from vms.views.vm_tabs import render_tab


@login_required
@require_GET
def vm_disks(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    return render_tab(request, vm, "disks")
