"""Portal pages. Thin: parse, authorize, call one service, render."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from audit.log import filter_entries
from portal import quotas, services
from portal.choices import OPEN_STATES, RequestState
from portal.forms import ApproveForm, AuditFilterForm, RequestForm
from portal.models import VMRequest
from portal.selectors import host_rows, pending_requests, summary_json, visible_entries, visible_requests
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
        if form.is_valid():
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
                )
            except ValidationError as exc:
                form.apply_errors(exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages})
            else:
                if req.state == RequestState.PROVISIONED:
                    messages.success(request, _("Approved: your VM is being created."))
                elif req.state == RequestState.FAILED:
                    messages.error(
                        request, _("Your request could not be carried out: %(reason)s") % {"reason": req.reason}
                    )
                else:
                    messages.success(request, _("Request sent. An admin will look at it; this page updates by itself."))
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
    qs = visible_requests(request.user)
    if not (request.user.is_staff and request.GET.get("all") == "1"):
        qs = qs.filter(requester=request.user)
    state = request.GET.get("state", "")
    if state in RequestState.values:
        qs = qs.filter(state=state)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/request_list.html",
        {
            "page": page,
            "state": state,
            "states": RequestState.choices,
            "show_all": request.GET.get("all") == "1",
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
        {"key": "created", "label": _("VM created"), "done": req.vm_id is not None},
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
    return _request_action(request, pk, lambda req: services.cancel(request.user, req))


@staff_required
@require_POST
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    form = ApproveForm(request.POST)
    host = form.cleaned_data.get("host") if form.is_valid() else None

    def approve(req):
        req = services.approve(request.user, req, host=host)
        messages.success(
            request,
            _("Approved %(name)s: the VM is being created on %(host)s.") % {"name": req.name, "host": req.vm.host.name},
        )

    return _request_action(request, pk, approve)


@staff_required
@require_POST
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    def reject(req):
        services.reject(request.user, req, request.POST.get("reason", ""))
        messages.success(request, _("Rejected %(name)s.") % {"name": req.name})

    return _request_action(request, pk, reject)


@staff_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    pending = list(pending_requests()[:200])
    return render(
        request,
        "portal/inbox.html",
        {
            "pending": pending,
            "hosts": Host.objects.filter(enabled=True).order_by("name"),
            "state_labels": dict(RequestState.choices),
        },
    )


@staff_required
@require_GET
def fleet(request: HttpRequest) -> HttpResponse:
    overview = host_rows()
    return render(
        request,
        "portal/fleet.html",
        {"overview": overview, "vm_state_labels": dict(VMState.choices), "summary_json": summary_json(overview)},
    )


@staff_required
@require_GET
def fleet_summary(request: HttpRequest) -> JsonResponse:
    return JsonResponse(summary_json(host_rows(preview=0)))


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
    for entry in page:
        entry.details_text = json.dumps(entry.details, ensure_ascii=False, sort_keys=True) if entry.details else ""
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "portal/audit.html", {"form": form, "page": page, "query": query.urlencode()})


@login_required
def home(request):
    user = request.user
    context = {
        "summary": vm_summary(user),
        "quota": quotas.summary(user),
        "open_requests": VMRequest.objects.filter(requester=user, state__in=OPEN_STATES).select_related("template"),
        "pending_count": VMRequest.objects.filter(state=RequestState.PENDING).count() if user.is_staff else 0,
        "vm_state_labels": dict(VMState.choices),
        "request_state_labels": dict(RequestState.choices),
    }
    return render(request, "home.html", context)
