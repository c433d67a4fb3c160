"""A VM's graphical console: the noVNC (or spice-html5) page, its tickets, and `.vv` files for native clients.

Who: the console needs `can_operate_vm` (RFB carries keyboard and mouse input in the same stream as
the picture, see vms/consumers/graphics.py); seeing the VM at all is checked first, so a VM the user
may not see is a 404, one they may only watch a 403.

The page and the ticket never call libvirt, and never carry the display's password (the relay
authenticates to the display itself). The `.vv` file does call libvirt (it needs the port the display
got, and its password, which a native client must present): one short call for an explicit download.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.graphics import connect_address, live_graphics, virt_viewer_file
from vms.permissions import can_operate_vm
from vms.selectors import visible_vm_or_404
from vms.services import connect, console_tokens

log = logging.getLogger(__name__)
VV_CONTENT_TYPE = "application/x-virt-viewer"


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


@login_required
@require_GET
def graphics_console(request: HttpRequest, uuid, display: str | None = None) -> HttpResponse:
    """The full-page viewer: noVNC, or spice-html5 for a SPICE display.

    Which one: the route's `display`, else the VM's stored XML (no libvirt call for the page). The page
    fetches a ticket, then opens the websocket(s) with it. A VM whose XML declares no display gets a
    page that says so and no viewer: its buttons could never work.
    """
    vm = visible_vm_or_404(request.user, uuid)
    may_operate = can_operate_vm(request.user, vm)
    stored = connect.display_of(vm)
    usable = may_operate and stored is not None
    display = display or (stored if stored in ("vnc", "spice") else "vnc")
    # The relay closes with 4404 both for a stopped VM and for a missing display; the page knows which
    # the database believes, and must not tell the owner of a running VM that it is not running.
    # The page's scripts follow the VM's state after this (static/js/console_ticket.js).
    running = vm.state in connect.SHOWS_A_SCREEN
    config = {
        "vm": str(vm.uuid),
        "display": display,
        "running": running,
        "screenStates": sorted(connect.SHOWS_A_SCREEN),
        "tokenUrl": reverse("vm-console-token", args=[vm.uuid]),
        "socketPath": f"/ws/vms/{vm.uuid}/{display}/",
        "messages": {
            "connecting": _("Connecting…"),
            "connected": _("Connected"),
            "disconnected": _("Disconnected"),
            "failed": _("The connection failed."),
            "ticketFailed": _("Could not get a console ticket."),
            "passwordFailed": _("The display asked for a password and none could be found."),
            "securityFailed": _("The display refused the connection."),
            "notLoggedIn": _("Your session has ended: log in again."),
            "forbidden": _("You may not use this VM's graphical console."),
            "noGraphics": _("This VM has no SPICE display.")
            if display == "spice"
            else _("This VM has no VNC display."),
            "notRunning": _("This VM is not running: start it first."),
            "unreachable": _("The VM's display cannot be reached."),
            "refused": _("The console was not opened: this VM's display listens on an address outside its host."),
            "loadFailed": _("The VNC viewer could not be loaded."),
        },
    }
    if display == "spice":
        config["messages"].update(
            {
                "loadFailed": _("The SPICE viewer could not be loaded."),
                "passwordFailed": _("The display refused the password."),
            }
        )
    context = {
        "vm": vm,
        "may_operate": may_operate,
        "usable": usable,
        "no_display": stored is None,
        "running": running,
        "config": config,
        "display": display,
        # The other viewer is worth offering only when the XML may declare that kind of display.
        "other_viewer": connect.has_display_type(vm, "vnc" if display == "spice" else "spice") is not False,
    }
    return render(request, "vms/graphics_console.html", context)


@require_POST
@never_cache
def console_token(request: HttpRequest, uuid) -> JsonResponse:
    """POST (CSRF-checked): a ticket for one websocket connection to this VM's display, valid 60 s.

    `display=spice` in the form asks for a SPICE ticket (usable again for a few seconds: one socket per
    SPICE channel); VNC otherwise. Never the display's password: the relay authenticates to the display
    itself (vms/consumers/graphics.py), so the browser needs none and gets none. No libvirt call.
    """
    if not request.user.is_authenticated:
        return JsonResponse({"error": _("Log in to use the console.")}, status=401)
    vm = visible_vm_or_404(request.user, uuid)
    if not can_operate_vm(request.user, vm):
        return JsonResponse({"error": _("You may not use this VM's graphical console.")}, status=403)
    kind = request.POST.get("display", "vnc")
    if kind not in console_tokens.KINDS:
        return JsonResponse({"error": _("Unknown display type.")}, status=400)
    data: dict[str, object] = {
        "token": console_tokens.issue(request.user.pk, vm.uuid, kind),
        "expires_in": console_tokens.MAX_AGE_S,
        "path": f"/ws/vms/{vm.uuid}/{kind}/",
    }
    if kind == "spice":
        data["reuse_for"] = console_tokens.SPICE_REUSE_S
    return JsonResponse(data)


@login_required
@require_GET
@never_cache
def console_vv(request: HttpRequest, uuid) -> HttpResponse:
    """A virt-viewer connection file (remote-viewer, virt-viewer) for the VM's VNC or SPICE display.

    The address in it is where the display listens *on the host* (a host reached over SSH keeps its
    displays on its loopback: the file then works through an SSH tunnel). A native client has to
    authenticate to the display itself, so the file holds the VM's display password: only for users
    who may operate the VM (as the browser console), served `no-store`, and remote-viewer deletes it
    after reading (`delete-this-file=1`).
    """
    vm = visible_vm_or_404(request.user, uuid)
    if not can_operate_vm(request.user, vm):
        return _text(_("You may not use this VM's graphical console."), 403)
    if vm.host is None:
        return _text(_("This VM is not on a host."), 404)
    try:
        display = live_graphics(vm.host.uri, str(vm.uuid), secure=True)
    except HypervisorError as exc:
        log.warning("console file of %s: %s", vm.uuid, exc)
        return _text(_("The VM's host cannot be reached."), 503)
    address = connect_address(display.listen, vm.host.uri) if display is not None else None
    if display is None or address is None or (display.port is None and display.tls_port is None):
        return _text(_("This VM is not running or has no VNC or SPICE display on a network port."), 404)
    response = HttpResponse(virt_viewer_file(display, address, vm.name), content_type=VV_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, f"{vm.name}.vv")
    return response
