"""The Networks page (staff): each host's libvirt networks and bridges, defining and changing networks.

Thin: parse, authorize, call services/networks.py, render. The list is read from the hosts' stored facts
(see that module for why the page never asks libvirt while it renders).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from vms.forms import NetworkForm
from vms.models import Host, HostNetwork
from vms.services import networks as network_services
from vms.views.access import staff_required

ACTIONS = ("start", "stop", "autostart-on", "autostart-off", "delete")


@staff_required
def network_list(request):
    form = NetworkForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            order = network_services.validate_order(
                name=data["name"],
                hosts=list(data["hosts"]),
                mode=data["mode"],
                bridge=data["bridge"],
                subnet=data["subnet"],
                dhcp=data["dhcp"],
            )
        except ValidationError as exc:
            for key, msgs in exc.message_dict.items():
                for message in msgs:
                    form.add_error(key if key in form.fields else None, message)
        else:
            results = network_services.define_network(request.user, order)
            done = [r.host.name for r in results if r.ok]
            if done:
                messages.success(
                    request,
                    _("Network %(name)s is defined and started on %(hosts)s.")
                    % {"name": order.name, "hosts": ", ".join(done)},
                )
            for result in results:
                if not result.ok:
                    messages.error(request, result.error)
            return redirect("manage-networks")
    hosts = list(Host.objects.order_by("name"))
    networks = [(host, view) for host in hosts for view in network_services.host_networks(host)]
    return render(
        request,
        "vms/manage/network_list.html",
        {
            "form": form,
            "hosts": hosts,
            "networks": networks,
            "checked_hosts": [str(v) for v in (form["hosts"].value() or [])] if form.is_bound else [],
        },
    )


@staff_required
@require_POST
def network_action(request, pk: int):
    row = get_object_or_404(HostNetwork.objects.select_related("host"), pk=pk)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        messages.error(request, _("Unknown action."))
        return redirect("manage-networks")
    names = {"name": row.name, "host": row.host.name}
    try:
        if action == "start":
            network_services.start_network(request.user, row)
            done = _("Network %(name)s started on %(host)s.") % names
        elif action == "stop":
            network_services.stop_network(request.user, row)
            done = _("Network %(name)s stopped on %(host)s.") % names
        elif action in ("autostart-on", "autostart-off"):
            on = action == "autostart-on"
            network_services.set_autostart(request.user, row, on)
            done = (
                _("Network %(name)s on %(host)s now starts with the host.")
                if on
                else _("Network %(name)s on %(host)s no longer starts with the host.")
            ) % names
        else:
            network_services.delete_network(request.user, row)
            done = _("Network %(name)s deleted from %(host)s.") % names
    except ProtectedError as exc:
        messages.error(request, exc.args[0])
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, done)
    return redirect("manage-networks")
