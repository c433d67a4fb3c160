"""The Storage pages (admins): each host's pools, and one pool's volumes with their owners.

Thin: parse, authorize, call vms.services.storage, render. The pool list comes from the hosts' stored
facts. Only a request for one pool's volumes (`?pool=`), and the buttons, talk to the host, through
the service's deadline (docs/templates.md, "Storage pools and volumes").
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from vms.forms import PoolForm
from vms.models import Host
from vms.services import storage as storage_services
from vms.views.access import staff_required


def _host_url(host: Host, pool: str = "") -> str:
    url = reverse("manage-storage-host", args=[host.pk])
    return f"{url}?{urlencode({'pool': pool})}" if pool else url


@staff_required
def storage_list(request):
    hosts = storage_services.fleet_storage(Host.objects.order_by("name"))
    return render(request, "vms/manage/storage_list.html", {"hosts": hosts})


@staff_required
def storage_host(request, pk: int):
    """GET: the host's pools, and the volumes of `?pool=` read from the host. POST: define a pool."""
    host = get_object_or_404(Host, pk=pk)
    form = PoolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            pool = storage_services.define_pool(
                host, form.cleaned_data["name"], form.cleaned_data["path"], request.user
            )
        except ValidationError as exc:
            for key, msgs in exc.message_dict.items():
                for message in msgs:
                    form.add_error(key if key in form.fields else None, message)
        except storage_services.StorageError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, _("Storage pool '%(pool)s' defined on %(host)s.") % {"pool": pool.name, "host": host.name}
            )
            return redirect(_host_url(host, pool.name))
    pool_name = request.GET.get("pool", "")
    context = {"host": host, "pools": storage_services.host_pools(host), "form": form, "pool_name": pool_name}
    if pool_name:
        if storage_services.stored_pool(host, pool_name) is None:
            context["volumes_error"] = _("Host %(host)s reported no storage pool '%(pool)s'; refresh its pools.") % {
                "host": host.name,
                "pool": pool_name,
            }
        else:
            try:
                context["volumes"] = storage_services.pool_volumes(host, pool_name)
            except storage_services.StorageError as exc:
                context["host_error"] = exc
    return render(request, "vms/manage/storage_host.html", context)


@staff_required
@require_POST
def storage_refresh(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    pool_name = request.POST.get("pool", "")
    try:
        storage_services.refresh_pools(host, pool_name)
    except ValidationError as exc:
        for msgs in exc.message_dict.values():
            for message in msgs:
                messages.error(request, message)
    except storage_services.StorageError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Storage pools of %(host)s read again.") % {"host": host.name})
    return redirect(_host_url(host, pool_name) if request.POST.get("back") == "host" else "manage-storage")


@staff_required
@require_POST
def storage_volume_delete(request, pk: int):
    host = get_object_or_404(Host, pk=pk)
    pool_name = request.POST.get("pool", "")
    volume = request.POST.get("volume", "")
    try:
        storage_services.delete_volume(host, pool_name, volume, request.user)
    except (storage_services.VolumeInUse, LookupError) as exc:
        messages.error(request, str(exc.args[0]))
    except storage_services.StorageError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Volume '%(volume)s' deleted from storage pool '%(pool)s' on %(host)s.")
            % {"volume": volume, "pool": pool_name, "host": host.name},
        )
    return redirect(_host_url(host, pool_name))
