"""Read-only queries for pages: they read the database, never libvirt."""

from __future__ import annotations

import uuid as uuid_lib

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from vms.choices import VMState
from vms.models import Host, VirtualMachine
from vms.permissions import visible_vm_filter


def visible_vms(user) -> QuerySet[VirtualMachine]:
    """The VMs this user may see (own, shared with them; everything for admins and operators)."""
    qs = VirtualMachine.objects.exclude(state=VMState.DELETED).select_related("host", "template", "owner")
    return qs.filter(visible_vm_filter(user))


def visible_vm_or_404(user, uuid) -> VirtualMachine:
    """The VM a page asks for, if this user may see it; 404 otherwise (never saying which)."""
    return get_object_or_404(visible_vms(user), uuid=uuid)


def vm_by_uuid(raw_uuid: object) -> VirtualMachine | None:
    """The VM a socket's URL names (with its host), None for no such VM or not a UUID. No permission check."""
    try:
        return VirtualMachine.objects.select_related("host").filter(uuid=uuid_lib.UUID(str(raw_uuid))).first()
    except ValueError:
        return None


def fleet_summary(user) -> dict:
    vms = visible_vms(user)
    by_state = dict(vms.order_by().values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    hosts = Host.objects.all() if user.is_staff else Host.objects.none()
    return {"vm_count": sum(by_state.values()), "by_state": by_state, "hosts": hosts}
