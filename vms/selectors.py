"""Read-only queries for pages: they read the database, never libvirt."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from vms.choices import VMState
from vms.models import Host, VirtualMachine
from vms.permissions import visible_vm_filter


def visible_vms(user) -> QuerySet[VirtualMachine]:
    """The VMs this user may see (own, shared with them; everything for admins and operators)."""
    qs = VirtualMachine.objects.exclude(state=VMState.DELETED).select_related("host", "template", "owner")
    return qs.filter(visible_vm_filter(user))


def fleet_summary(user) -> dict:
    vms = visible_vms(user)
    by_state = dict(vms.order_by().values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    hosts = Host.objects.all() if user.is_staff else Host.objects.none()
    return {"vm_count": sum(by_state.values()), "by_state": by_state, "hosts": hosts}
