"""VM pages: the list (live badges), one VM (specs, live state, stats, jobs, console), actions, sharing.

Thin: parse, authorize, call one service, render. Pages read the database (and Redis for the stats
sparkline), never libvirt.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from vms import extensions, list_filters
from vms.choices import ShareLevel, VMAction, VMState
from vms.forms import ShareForm
from vms.models import VirtualMachine, VMShare
from vms.permissions import can_share_vm, sees_all_vms, visible_vm_filter
from vms.selectors import visible_vm_or_404, visible_vms
from vms.services import connect, sharing
from vms.services.actions import act_on_vm
from vms.views.vm_tabs import page_context, render_tab, tab_context

log = logging.getLogger(__name__)
PAGE_SIZE = 100


@login_required
@require_GET
def vm_list(request: HttpRequest) -> HttpResponse:
    vms = visible_vms(request.user).order_by("name", "id")
    scope = request.GET.get("scope", "")
    if scope == "mine":
        vms = vms.filter(owner=request.user)
    elif scope == "shared":
        vms = vms.filter(shares__user=request.user)
    # A search box: control characters mean nothing here, and PostgreSQL refuses NUL (a 500).
    query = "".join(ch for ch in request.GET.get("q", "") if ch >= " ").strip()
    if query:
        vms = vms.filter(Q(name__icontains=query) | Q(host__name__icontains=query))
    chosen = list_filters.choice_from(request.GET)
    vms = list_filters.apply(vms, chosen).prefetch_related("tags")
    page = Paginator(vms, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "vms/vm_list.html",
        {
            **page_context(),
            "page": page,
            "vms": page.object_list,
            "scope": scope,
            "q": query,
            "chosen": chosen,
            "sorts": [(key, label) for key, (label, _order) in list_filters.SORTS.items()],
            "states": VMState.choices,
            "sees_all": sees_all_vms(request.user),
            "query": _query_without_page(request),
            # What apps built on vms add to the list (the portal: the user's open requests).
            **{key: value for provider in extensions.vm_list_context for key, value in provider(request).items()},
        },
    )


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _recent_stats(vm) -> list[dict]:
    try:
        from vms.watcher.observed import recent_stats
    except ImportError:
        return []
    try:
        return recent_stats(vm.uuid)
    except Exception:  # a sparkline is a convenience; Redis trouble must not break the page
        log.warning("could not read stats of %s", vm.uuid, exc_info=True)
        return []


def _seen_addresses(vm) -> dict | None:
    try:
        from vms.watcher.observed import guest_addresses
    except ImportError:
        return None
    try:
        return guest_addresses(vm.uuid)
    except Exception:  # an address is a convenience; Redis trouble must not break the page
        log.warning("could not read the addresses of %s", vm.uuid, exc_info=True)
        return None


def _vm_or_its_record(user, uuid) -> VirtualMachine:
    """The VM, or the record of a deleted one this user could see: links to it (from its jobs, its
    request, the audit log) should say what became of it rather than "not found". Only this page does
    so; every action and socket still treats a deleted VM as gone."""
    try:
        return visible_vm_or_404(user, uuid)
    except Http404:
        record = (
            VirtualMachine.objects.filter(visible_vm_filter(user), uuid=uuid, state=VMState.DELETED)
            .select_related("host", "template", "owner")
            .first()
        )
        if record is None:
            raise
        return record


@login_required
@require_GET
def vm_detail(request: HttpRequest, uuid) -> HttpResponse:
    """The Overview tab: actions, how to connect, usage, details, sharing, jobs."""
    vm = _vm_or_its_record(request.user, uuid)
    context = tab_context(request, vm, "overview")
    gone = context["gone"]
    # A deleted VM has nothing left to share, operate or watch: the page keeps its record only.
    may_share = can_share_vm(request.user, vm) and not gone
    return render(
        request,
        "vms/vm_detail.html",
        {
            **context,
            "may_share": may_share,
            "shares": list(vm.shares.select_related("user")) if may_share else [],
            "share_form": ShareForm(),
            "share_levels": dict(ShareLevel.choices),
            "origin": vm.requests.select_related("requester").first(),
            "stats": [] if gone else _recent_stats(vm),
            "connect": connect.how_to_connect(vm, None if gone else _seen_addresses(vm)),
        },
    )


@login_required
@require_GET
def vm_console(request: HttpRequest, uuid) -> HttpResponse:
    """The Console tab: the serial console, and the graphical one where the VM has a display."""
    vm = visible_vm_or_404(request.user, uuid)
    return render_tab(request, vm, "console", {"connect": connect.how_to_connect(vm, None)})


@login_required
@require_POST
def vm_action(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    action = request.POST.get("action", "")
    if action not in VMAction.values:
        messages.error(request, _("Unknown action."))
        return redirect("vm-detail", uuid=vm.uuid)
    try:
        job = act_on_vm(request.user, vm, action)
    except PermissionDenied as exc:
        messages.error(request, str(exc) or _("You may not do that."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("%(action)s requested for %(name)s (job #%(job)s).")
            % {"action": VMAction(action).label, "name": vm.name, "job": job.pk},
        )
    if request.POST.get("next") == "list":
        return redirect("vm-list")
    return redirect("vm-detail", uuid=vm.uuid)


@login_required
@require_POST
def vm_share(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    form = ShareForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a username and an access level."))
        return redirect("vm-detail", uuid=vm.uuid)
    try:
        share = sharing.share_vm(request.user, vm, form.cleaned_data["username"], form.cleaned_data["level"])
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Shared with %(user)s.") % {"user": share.user.get_username()})
    return redirect("vm-detail", uuid=vm.uuid)


@login_required
@require_POST
def vm_unshare(request: HttpRequest, uuid, share_id: int) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    share = VMShare.objects.filter(pk=share_id, vm=vm).select_related("vm", "user").first()
    if share is None:
        raise Http404
    try:
        sharing.unshare_vm(request.user, share)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(user)s no longer shares this VM.") % {"user": share.user.get_username()})
    return redirect("vm-detail", uuid=vm.uuid)
