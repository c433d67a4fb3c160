"""The one place that writes VirtualMachine.state: a conditional UPDATE, then a broadcast."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from live.broadcast import broadcast
from live.groups import user_group
from vms.groups import FLEET, host_group, vm_group
from vms.models import VirtualMachine


class StateConflict(Exception):
    """The VM was not in a state this change may start from (someone else changed it first)."""


def vm_groups(vm: VirtualMachine) -> list[str]:
    groups = [vm_group(vm.uuid), FLEET]
    if vm.owner_id:
        groups.append(user_group(vm.owner_id))
    if vm.host_id:
        groups.append(host_group(vm.host_id))
    return groups


def state_payload(vm: VirtualMachine) -> dict:
    return {"type": "vm.state", "vm": str(vm.uuid), "id": vm.pk, "state": vm.state, "host": vm.host_id}


def set_state(vm: VirtualMachine, new: str, expected: Iterable[str] | None = None, **fields) -> bool:
    """Move the VM to `new` if its state is one of `expected` (any, when None). False if it was not."""
    qs = VirtualMachine.objects.filter(pk=vm.pk)
    if expected is not None:
        qs = qs.filter(state__in=list(expected))
    now = timezone.now()
    if not qs.update(state=new, state_changed_at=now, **fields):
        return False
    vm.state, vm.state_changed_at = new, now
    for name, value in fields.items():
        setattr(vm, name, value)
    broadcast(vm_groups(vm), state_payload(vm))
    return True


def require_state(vm: VirtualMachine, new: str, expected: Iterable[str]) -> None:
    expected = list(expected)
    if not set_state(vm, new, expected):
        vm.refresh_from_db(fields=["state"])
        raise StateConflict(f"VM '{vm.name}' is {vm.state}; expected one of {', '.join(expected)}.")
