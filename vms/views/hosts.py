"""The hosts page for admins: list, add (check first, then save), edit, enable, remove, SSH host keys.

Thin: parse, authorize, call a service (vms/services/hosts.py, ssh_trust.py), render. Talking to a host
happens only on an explicit button (Check, Add host, Confirm), never while a page renders.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, ProtectedError, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from vms.choices import VMState
from vms.forms import HostAddForm, HostForm, TrustHostKeyForm
from vms.models import Host
from vms.services import hosts as host_services
from vms.services import maintenance, ssh_trust
from vms.views.access import staff_required

EDITABLE = ("name", "uri", "emulation", "max_concurrent_jobs", "enabled", "notes")


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for key, msgs in exc.message_dict.items():
            target = key if key in form.fields and not form.fields[key].widget.is_hidden else None
            for message in msgs:
                form.add_error(target, message)
    else:
        for message in exc.messages:
            form.add_error(None, message)


def _key_context() -> dict:
    return {"public_key": ssh_trust.public_key_line()}


@staff_required
def host_list(request):
    hosts = Host.objects.annotate(vm_count=Count("vms", filter=~Q(vms__state=VMState.DELETED))).order_by("name")
    return render(request, "vms/manage/host_list.html", {"hosts": hosts, **_key_context()})


@staff_required
def host_new(request):
    """Two steps on one form: "Check" shows what the host offers (and its SSH key); "Add host" saves it."""
    form = HostAddForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {key: data[key] for key in EDITABLE}
        checked = data["checked_uri"] and data["checked_uri"] == data["uri"].strip()
        try:
            if "add" in request.POST and checked:
                host = host_services.add_host(
                    **fields, ssh_fingerprint=data["ssh_host_key_fingerprint"], actor=request.user
                )
                messages.success(request, _("Host %(name)s added.") % {"name": host.name})
                return redirect("manage-host", pk=host.pk)
            # "Check", or "Add host" for a URI changed since its check: show the report first.
            preview = host_services.preview_host(data["name"], data["uri"], data["emulation"])
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            form = HostAddForm(
                initial={**fields, "ssh_host_key_fingerprint": preview.fingerprint, "checked_uri": preview.uri}
            )
    return render(request, "vms/manage/host_new.html", {"form": form, "preview": preview, **_key_context()})


def _detail(request, host: Host, *, form=None, report=None, status=200):
    vms = host.vms.exclude(state=VMState.DELETED).select_related("owner").order_by("name")
    page = Paginator(vms, 100).get_page(request.GET.get("page"))
    context = {
        "host": host,
        "form": form or HostForm.for_host(host),
        "report": report,
        "page": page,
        "trust_form": TrustHostKeyForm(initial={"fingerprint": host.ssh_offered_fingerprint}),
        "maintenance_job": maintenance.maintenance_job(host),
        "vm_state_labels": dict(VMState.choices),
        **_key_context(),
    }
    return render(request, "vms/manage/host_detail.html", context, status=status)


@staff_required
def host_detail(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    if request.method != "POST":
        return _detail(request, host)
    form = HostForm.for_host(host, request.POST)
    if form.is_valid():
        try:
            host_services.update_host(host, request.user, **{key: form.cleaned_data[key] for key in EDITABLE})
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Host %(name)s saved.") % {"name": host.name})
            return redirect("manage-host", pk=host.pk)
    host.refresh_from_db()
    return _detail(request, host, form=form, status=400)


@staff_required
@require_POST
def host_check(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    report = host_services.check_host(host, actor=request.user)
    return _detail(request, host, report=report)


@staff_required
@require_POST
def host_trust(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    form = TrustHostKeyForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Check the host first: there is no SSH host key to confirm."))
        ssh_trust.trust_host_key(host, form.cleaned_data["fingerprint"], request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("manage-host", pk=host.pk)
    messages.success(
        request,
        _("SSH host key %(fingerprint)s of %(name)s confirmed.")
        % {"fingerprint": host.ssh_host_key_fingerprint, "name": host.name},
    )
    # Confirmed is not yet reachable: check at once, so the page says what the host offers (or lacks).
    return _detail(request, host, report=host_services.check_host(host, actor=request.user))


@staff_required
@require_POST
def host_enable(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    enable = request.POST.get("enabled") == "1"
    host_services.update_host(host, request.user, enabled=enable)
    if enable:
        messages.success(request, _("Host %(name)s enabled: new VMs may be placed there.") % {"name": host.name})
    else:
        messages.success(
            request,
            _("Host %(name)s disabled: no new VMs are placed there; its VMs keep running.") % {"name": host.name},
        )
    if request.POST.get("next") == "list":  # the button in the hosts list returns there
        return redirect("manage-hosts")
    return redirect("manage-host", pk=host.pk)


@staff_required
@require_POST
def host_delete(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    count = host_services.vm_count(host)
    if count:
        messages.error(request, _refusal(host.name, count))
        return redirect("manage-host", pk=host.pk)
    try:
        host_services.delete_host(host, request.user)
    except ProtectedError:  # a VM placed there between the count and the delete
        messages.error(request, _refusal(host.name, host_services.vm_count(host)))
        return redirect("manage-host", pk=host.pk)
    messages.success(request, _("Host %(name)s removed.") % {"name": host.name})
    return redirect("manage-hosts")


def _refusal(name: str, count: int) -> str:
    return ngettext(
        "%(name)s still has %(count)d VM (deleted VMs keep their record): it cannot be removed until no VM "
        "refers to it.",
        "%(name)s still has %(count)d VMs (deleted VMs keep their record): it cannot be removed until no VM "
        "refers to it.",
        count,
    ) % {"name": name, "count": count}


@staff_required
@require_POST
def host_maintenance(request, pk: int):
    """Enter (opens the job that moves the VMs away) or leave maintenance; vms/services/maintenance.py decides."""
    host = get_object_or_404(Host, pk=pk)
    try:
        if request.POST.get("enter") == "1":
            job = maintenance.enter_maintenance(request.user, host)
            messages.success(
                request,
                _("%(name)s is in maintenance: its VMs are being moved (job #%(job)s).")
                % {"name": host.name, "job": job.pk},
            )
            return redirect("job-detail", pk=job.pk)
        maintenance.leave_maintenance(request.user, host)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("manage-host", pk=host.pk)
    messages.success(request, _("%(name)s left maintenance: new VMs may be placed there again.") % {"name": host.name})
    return redirect("manage-host", pk=host.pk)
