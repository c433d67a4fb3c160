"""Who may see and operate a VM. Every view, API endpoint and consumer asks here.

Roles:
- admin (`is_staff`): everything.
- operator (member of the Django group "operators"): sees and operates every VM, deletes them too;
  manages no hosts, templates or images (those pages check `is_staff`).
- user: their own VMs, and the VMs shared with them (vms.VMShare: "view" or "operate").
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from vms.models import VirtualMachine, VMShare

OPERATORS_GROUP = "operators"
SHARE_VIEW = "view"
SHARE_OPERATE = "operate"


def _authenticated(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_admin(user) -> bool:
    return _authenticated(user) and user.is_staff


def is_operator(user) -> bool:
    if not _authenticated(user):
        return False
    cached = getattr(user, "_kvm_is_operator", None)
    if cached is None:
        cached = user.groups.filter(name=OPERATORS_GROUP).exists()
        user._kvm_is_operator = cached
    return cached


def sees_all_vms(user) -> bool:
    return is_admin(user) or is_operator(user)


def share_level(user, vm: VirtualMachine) -> str | None:
    if not _authenticated(user):
        return None
    return VMShare.objects.filter(vm_id=vm.pk, user_id=user.pk).values_list("level", flat=True).first()


def can_view_vm(user, vm: VirtualMachine) -> bool:
    if not _authenticated(user):
        return False
    if sees_all_vms(user) or (vm.owner_id is not None and vm.owner_id == user.pk):
        return True
    return share_level(user, vm) is not None


def can_operate_vm(user, vm: VirtualMachine) -> bool:
    """Start, stop, console keystrokes."""
    if not _authenticated(user):
        return False
    if sees_all_vms(user) or (vm.owner_id is not None and vm.owner_id == user.pk):
        return True
    return share_level(user, vm) == SHARE_OPERATE


def vm_access(user, vm: VirtualMachine) -> tuple[bool, bool]:
    """(may view, may operate) in one go: what a console socket re-checks when rights change."""
    if not _authenticated(user):
        return False, False
    if sees_all_vms(user) or (vm.owner_id is not None and vm.owner_id == user.pk):
        return True, True
    level = share_level(user, vm)
    return level is not None, level == SHARE_OPERATE


def can_delete_vm(user, vm: VirtualMachine) -> bool:
    """Deleting is for the owner, operators and admins: a share never lets anyone delete."""
    if not _authenticated(user):
        return False
    return sees_all_vms(user) or (vm.owner_id is not None and vm.owner_id == user.pk)


def can_share_vm(user, vm: VirtualMachine) -> bool:
    if not _authenticated(user):
        return False
    return is_admin(user) or (vm.owner_id is not None and vm.owner_id == user.pk)


def visible_vm_filter(user) -> Q:
    """A filter on VirtualMachine for the VMs this user may see (nothing for anonymous)."""

    if not _authenticated(user):
        return Q(pk__in=[])
    if sees_all_vms(user):
        return Q()
    shared = VMShare.objects.filter(user_id=user.pk).values("vm_id")
    return Q(owner_id=user.pk) | Q(pk__in=shared)


def visible_vm_ids(user) -> QuerySet:
    """Primary keys of the VMs this user may see, as a subquery (use with `pk__in=`)."""
    return VirtualMachine.objects.filter(visible_vm_filter(user)).values("pk")
