"""Read-only queries for pages: they read the database, never libvirt."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from vms.choices import VMState
from vms.models import Host, VirtualMachine


def visible_vms(user) -> QuerySet[VirtualMachine]:
    qs = VirtualMachine.objects.exclude(state=VMState.DELETED).select_related("host", "template", "owner")
    if user.is_staff:
        return qs
    return qs.filter(owner=user)


def fleet_summary(user) -> dict:
    vms = visible_vms(user)
    by_state = dict(vms.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    hosts = Host.objects.all() if user.is_staff else Host.objects.none()
    return {"vm_count": vms.count(), "by_state": by_state, "hosts": hosts}
