"""Discovered VMs (domains the watcher found on a host that the dashboard did not make).

The watcher creates their rows (managed=False, no owner). An admin may adopt one (give it an owner,
who then sees and operates it like their own; it stays unmanaged, so deleting it only forgets it
unless the admin asks to remove it from the host) or forget it (the row is marked deleted; the
watcher leaves a deleted row alone, so the domain is not rediscovered while it keeps that UUID).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from audit import log as audit_log
from vms.choices import JOB_OWNED_STATES, VMState
from vms.models import VirtualMachine
from vms.services.state import set_state

# States from which a discovered VM may be forgotten: anything the watcher wrote, not a job's.
FORGETTABLE = [s for s in VMState.values if s not in JOB_OWNED_STATES and s != VMState.DELETED]


def _check(vm: VirtualMachine, by_user) -> None:
    if by_user is None or not by_user.is_authenticated or not by_user.is_staff:
        raise PermissionDenied(_("Only an admin may adopt or forget a discovered VM."))
    if vm.managed:
        raise ValidationError(
            {
                "vm": _("'%(name)s' was created by the dashboard; only discovered VMs can be adopted or forgotten.")
                % {"name": vm.name}
            }
        )
    if vm.state == VMState.DELETED:
        raise ValidationError({"vm": _("'%(name)s' is no longer on its host.") % {"name": vm.name}})


def adopt(vm: VirtualMachine, owner, by_user) -> VirtualMachine:
    """Give a discovered VM an owner. It stays unmanaged: the dashboard did not make its disks."""
    _check(vm, by_user)
    if owner is None or not getattr(owner, "is_active", False):
        raise ValidationError({"owner": _("Choose an active user to own this VM.")})
    changed = VirtualMachine.objects.filter(pk=vm.pk, managed=False).exclude(state=VMState.DELETED).update(owner=owner)
    if not changed:
        raise ValidationError({"vm": _("'%(name)s' changed meanwhile; reload and try again.") % {"name": vm.name}})
    vm.owner = owner
    audit_log.record(by_user, "vm.adopt", vm, owner=owner.get_username())
    # Tell the new owner's pages (and the fleet) about it: same message as any state change.
    set_state(vm, vm.state, expected=[vm.state])
    return vm


def forget(vm: VirtualMachine, by_user) -> VirtualMachine:
    """Stop showing a discovered VM. The domain stays on its host, untouched."""
    _check(vm, by_user)
    if not set_state(vm, VMState.DELETED, expected=FORGETTABLE, owner=None):
        vm.refresh_from_db(fields=["state"])
        raise ValidationError(
            {
                "vm": _("'%(name)s' is %(state)s; wait until its job finishes.")
                % {"name": vm.name, "state": VMState(vm.state).label.lower()}
            }
        )
    audit_log.record(by_user, "vm.forget", vm, host=vm.host.name if vm.host_id else None)
    return vm


def owner_by_username(username: str):
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        raise ValidationError({"owner": _("There is no user named '%(name)s'.") % {"name": username}})
    return user
