"""The one writer of VirtualMachine.state, and the one builder of the `vm.state` message.

Every state change -- a job's step (vms/runners), a service (deleting, forgetting), the watcher's
observation (vms/watcher/observed.py) -- goes through `set_state`: a conditional UPDATE, then the
`vm.state` message broadcast after commit. Code that must announce a VM without changing its state
(the watcher recording a discovered domain) calls `broadcast_state`; the VM socket's snapshot on
connect sends `state_payload`. So a browser reads one shape whoever made the change.
"""

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
    """Who hears about the VM: its own page, the fleet (staff), its owner's pages, its host."""
    groups = [vm_group(vm.uuid), FLEET]
    if vm.owner_id:
        groups.append(user_group(vm.owner_id))
    if vm.host_id:
        groups.append(host_group(vm.host_id))
    return groups


def state_payload(vm: VirtualMachine) -> dict:
    """The `vm.state` message (docs/live.md): what static/js/*.js and the tests read."""
    return {"type": "vm.state", "vm": str(vm.uuid), "state": vm.state, "host": vm.host_id}


def broadcast_state(vm: VirtualMachine) -> None:
    """Send the VM's `vm.state` message to its groups once the surrounding transaction commits."""
    broadcast(vm_groups(vm), state_payload(vm))


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
    broadcast_state(vm)
    return True


def require_state(vm: VirtualMachine, new: str, expected: Iterable[str]) -> None:
    expected = list(expected)
    if not set_state(vm, new, expected):
        vm.refresh_from_db(fields=["state"])
        raise StateConflict(f"VM '{vm.name}' is {vm.state}; expected one of {', '.join(expected)}.")
