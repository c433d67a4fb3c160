"""Portal pages. Thin: parse, authorize, call one service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.log import filter_entries
from portal import quotas, services, services_fleet
from portal.choices import OPEN_STATES, RequestState
from portal.forms import ApproveForm, AuditFilterForm, InboxApproveForm, RequestForm
from portal.models import VMRequest
from portal.selectors import host_rows, pending_requests, summary_json, visible_entries, visible_requests
from portal.views_support import audit_rows, quota_use
from ui.list_filters import whose_and_state
from vms.choices import VMState
from vms.models import Host, VMTemplate
from vms.selectors import fleet_summary as vm_summary
from vms.views.access import staff_required

PAGE_SIZE = 50


def _template_cards(templates) -> list[dict]:
    return [
        {
            "t": t,
            "limits": {
                "vcpus": [t.default_vcpus, t.max_vcpus],
                "memory_mib": [t.default_memory_mib, t.max_memory_mib],
                "disk_gib": [t.default_disk_gib, t.max_disk_gib],
            },
        }
        for t in templates
    ]


@login_required
def request_new(request: HttpRequest) -> HttpResponse:
    templates = list(VMTemplate.objects.filter(active=True).order_by("name"))
    if request.method == "POST":
        form = RequestForm(request.POST, user=request.user)
        if not form.is_valid():
            # Every problem at once: the template's rules on the fields that did parse, too.
            readable = {k: v for k, v in form.cleaned_data.items() if k not in form.errors and k != "template"}
            if form.cleaned_data.get("template"):
                form.apply_errors(services.request_problems(form.cleaned_data["template"], **readable))
        else:
            data = form.cleaned_data
            try:
                req = services.submit_request(
                    request.user,
                    data["template"],
                    data["name"],
                    data["vcpus"],
                    data["memory_mib"],
                    data["disk_gib"],
                    data["ssh_keys"],
                    data["note"],
                    host=data.get("host"),
                    run_once=data["run_once"],
                )
            except ValidationError as exc:
                form.apply_errors(exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages})
            else:
                if req.state == RequestState.PROVISIONED:
                    messages.success(
                        request,
                        format_html(
                            _("Approved: your VM {name} is being created."),
                            name=format_html('<a href="{}">{}</a>', reverse("vm-detail", args=[req.vm.uuid]), req.name),
                        ),
                    )
                elif req.state == RequestState.FAILED:
                    messages.error(
                        request, _("Your request could not be carried out: %(reason)s") % {"reason": req.reason}
                    )
                else:
                    # Tagged so the live decision on the page can take this banner away (static/js/request.js).
                    messages.success(
                        request,
                        _("Request sent. An admin will look at it; this page updates by itself."),
                        extra_tags="request-sent",
                    )
                return redirect("portal:request-detail", pk=req.pk)
    else:
        chosen = next(
            (t for t in templates if str(t.pk) == request.GET.get("template")), templates[0] if templates else None
        )
        initial = {}
        if chosen:
            initial = {
                "template": chosen,
                "vcpus": chosen.default_vcpus,
                "memory_mib": chosen.default_memory_mib,
                "disk_gib": chosen.default_disk_gib,
            }
        form = RequestForm(initial=initial, user=request.user)
    cards = _template_cards(templates)
    selected = str(form["template"].value() or "")
    return render(
        request,
        "portal/request_form.html",
        {
            "form": form,
            "cards": cards,
            "selected": selected,
            "quota": quotas.summary(request.user),
            "limits_json": {str(c["t"].pk): c["limits"] for c in cards},
            "approval": {str(t.pk): services.approval_mode(request.user, t) for t in templates},
            "form_messages": {
                "max": _("This template allows at most %(max)s."),
                "min": _("At least 1."),
                "whole": _("Give a whole number."),
                "quota": _("Only %(left)s left in your quota."),
                "name": _(
                    "Use letters, digits, dots, hyphens or underscores; start with a letter or digit (at most 63)."
                ),
            },
        },
    )


@login_required
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    everyone, state = whose_and_state(request, RequestState.values)
    qs = visible_requests(request.user)
    if not everyone:
        qs = qs.filter(requester=request.user)
    if state:
        qs = qs.filter(state=state)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/request_list.html",
        {
            "page": page,
            "state": state,
            "states": RequestState.choices,
            "show_all": everyone,
            "state_labels": dict(RequestState.choices),
            "vm_state_labels": dict(VMState.choices),
        },
    )


@login_required
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(visible_requests(request.user), pk=pk)
    return render(
        request,
        "portal/request_detail.html",
        {
            "req": req,
            "hosts": Host.objects.filter(enabled=True).order_by("name") if request.user.is_staff else [],
            "state_labels": dict(RequestState.choices),
            "vm_state_labels": dict(VMState.choices),
            "flow": _flow(req),
            "flow_labels": {"deleted": _("VM deleted")},
        },
    )


def _flow(req: VMRequest) -> list[dict]:
    """The steps a request goes through, and where this one is."""
    decided = req.state not in (RequestState.PENDING,)
    steps = [
        {"key": "submitted", "label": _("Submitted"), "done": True},
        {
            "key": "decided",
            "label": {
                RequestState.REJECTED: _("Rejected"),
                RequestState.CANCELLED: _("Cancelled"),
                RequestState.FAILED: _("Failed"),
            }.get(req.state, _("Approved")),
            "done": decided,
            "bad": req.state in (RequestState.REJECTED, RequestState.CANCELLED, RequestState.FAILED),
        },
        {
            "key": "created",
            "label": _("VM deleted") if req.vm_id and req.vm.state == VMState.DELETED else _("VM created"),
            "done": req.vm_id is not None,
        },
        {"key": "running", "label": _("Running"), "done": bool(req.vm_id and req.vm.state == VMState.RUNNING)},
    ]
    return steps


def _request_action(request: HttpRequest, pk: int, operation) -> HttpResponse:
    req = get_object_or_404(visible_requests(request.user), pk=pk)
    try:
        operation(req)
    except PermissionDenied as exc:
        messages.error(request, str(exc) or _("You may not do that."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    next_url = request.POST.get("next", "")
    if next_url == "inbox" and request.user.is_staff:
        return redirect("portal:inbox")
    return redirect("portal:request-detail", pk=req.pk)


@login_required
@require_POST
def request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    def cancel(req):
        services.cancel(request.user, req)
        messages.success(request, _("Cancelled the request for %(name)s.") % {"name": req.name})

    return _request_action(request, pk, cancel)


def _approved_message(req: VMRequest) -> str:
    """ "Approved web-1: the VM is being created on kvm-2." with the VM's name linking to its page."""
    return format_html(
        _("Approved {name}: the VM is being created on {host}."),
        name=format_html('<a href="{}">{}</a>', reverse("vm-detail", args=[req.vm.uuid]), req.name),
        host=req.vm.host.name,
    )


@staff_required
@require_POST
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    form = ApproveForm(request.POST)
    host = form.cleaned_data.get("host") if form.is_valid() else None

    def approve(req):
        messages.success(request, _approved_message(services.approve(request.user, req, host=host)))

    return _request_action(request, pk, approve)


@staff_required
@require_POST
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    def reject(req):
        services.reject(request.user, req, request.POST.get("reason", ""))
        messages.success(request, _("Rejected %(name)s.") % {"name": req.name})

    return _request_action(request, pk, reject)


@staff_required
@require_http_methods(["GET", "POST"])
def inbox(request: HttpRequest) -> HttpResponse:
    """The waiting requests; a POST approves one ("approve") or the ticked ones, on the one chosen host."""
    if request.method == "POST":
        form = InboxApproveForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            return redirect("portal:inbox")
        approved, refused = services.approve_many(request.user, form.chosen(), host=form.cleaned_data["host"])
        if len(approved) == 1:
            messages.success(request, _approved_message(approved[0]))
        elif approved:
            links = format_html_join(
                ", ", '<a href="{}">{}</a>', ((reverse("vm-detail", args=[r.vm.uuid]), r.name) for r in approved)
            )
            text = ngettext(
                "Approved %(count)d request: {links}.", "Approved %(count)d requests: {links}.", len(approved)
            ) % {"count": len(approved)}
            messages.success(request, format_html(text, links=links))
        for req, why in refused:
            messages.error(request, _("%(name)s was not approved: %(why)s") % {"name": req.name, "why": why})
        return redirect("portal:inbox")
    pending = list(pending_requests()[:200])
    use: dict = {}
    for req in pending:
        req.quota_use = quota_use(req.requester, use)
    return render(
        request,
        "portal/inbox.html",
        {"pending": pending, "form": InboxApproveForm(), "state_labels": dict(RequestState.choices)},
    )


@staff_required
@require_GET
def fleet(request: HttpRequest) -> HttpResponse:
    overview = services_fleet.judge(host_rows())
    return render(
        request,
        "portal/fleet.html",
        {
            "overview": overview,
            "vm_state_labels": dict(VMState.choices),
            "attention_labels": services_fleet.ATTENTION_LABELS,
        },
    )


@staff_required
@require_GET
def fleet_summary(request: HttpRequest) -> JsonResponse:
    return JsonResponse(summary_json(services_fleet.judge(host_rows(preview=0))))


@staff_required
@require_GET
def fleet_host(request: HttpRequest, pk: int) -> HttpResponse:
    host = get_object_or_404(Host, pk=pk)
    vms = host.vms.exclude(state=VMState.DELETED).select_related("owner", "template").order_by("name")
    page = Paginator(vms, 100).get_page(request.GET.get("page"))
    return render(
        request, "portal/fleet_host.html", {"host": host, "page": page, "vm_state_labels": dict(VMState.choices)}
    )


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    qs = visible_entries(request.user)
    if form.is_valid():
        qs = filter_entries(qs, **{k: v for k, v in form.cleaned_data.items() if v})
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/audit.html", {"form": form, "page": page, "rows": audit_rows(page, request.user)})


@login_required
def home(request):
    user = request.user
    context = {
        "summary": vm_summary(user),
        "quota": quotas.summary(user),
        "open_requests": VMRequest.objects.filter(requester=user, state__in=OPEN_STATES).select_related("template"),
        "pending_count": VMRequest.objects.filter(state=RequestState.PENDING).count() if user.is_staff else 0,
        # Admins get the fleet in a few numbers and the hosts to look at first, not every host.
        "fleet": services_fleet.home_summary(host_rows(preview=0)) if user.is_staff else None,
        "vm_state_labels": dict(VMState.choices),
        "request_state_labels": dict(RequestState.choices),
    }
    return render(request, "home.html", context)
