"""Who may see and operate a VM. Every view, API endpoint and consumer asks here."""

from __future__ import annotations

from vms.models import VirtualMachine


def can_view_vm(user, vm: VirtualMachine) -> bool:
    if not user or not user.is_authenticated:
        return False
    return user.is_staff or vm.owner_id == user.pk


def can_operate_vm(user, vm: VirtualMachine) -> bool:
    """Start, stop, console keystrokes. Same as viewing until sharing and roles arrive."""
    return can_view_vm(user, vm)
