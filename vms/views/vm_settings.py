"""The Settings tab: autostart, name, notes and tags; for admins the domain XML and its history."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from vms.selectors import visible_vm_or_404
from vms.views.settings_boot import boot_and_xml_context
from vms.views.vm_tabs import render_tab


@login_required
@require_GET
def vm_settings(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    return render_tab(request, vm, "settings", {**boot_and_xml_context(request, vm)})
