"""Asking for a change to a VM after it is made (snapshots, sizes, disks, media, boot, NICs, XML).

Every change goes through `request_change`: the same permission rules as the power actions (the
owner, an operator share, admins; a view share sees but does not change), the states it may start
from (vms.choices.CHANGE_FROM_STATES), run-once VMs refused where they have no persistent config,
one job at a time per VM (the runners are exclusive), and an audit entry, done or refused.

The feature services (snapshots, resize, disks, ...) validate their own input first, then call
`request_change` with the job's params; `prepare(vm)` runs inside the transaction that queues the
job (row-locked), for what must be checked or reserved atomically with it (quota, a snapshot limit).
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit import log as audit_log
from audit.choices import AuditResult
from jobs.errors import JobConflict, TargetBusy
from jobs.models import Job
from jobs.services import enqueue
from jobs.targets import target_for
from vms.choices import CHANGE_FROM_STATES, GONE_STATES, RUN_ONCE_REFUSED, VMChange, VMState
from vms.models import VirtualMachine
from vms.permissions import can_operate_vm
from vms.services.vms import job_queue


def check_change(user, vm: VirtualMachine, change: str) -> None:
    """Raise PermissionDenied or ValidationError (with the reason) unless `user` may make `change` now."""
    if vm.state in GONE_STATES:
        raise ValidationError({"vm": _("This VM was deleted.")})
    if not can_operate_vm(user, vm):
        raise PermissionDenied(_("You may not change this VM: it is shared with you to view only."))
    if not vm.managed:
        raise ValidationError({"vm": _("A discovered VM is not changed here; adopt it first.")})
    if vm.run_once and change in RUN_ONCE_REFUSED:
        raise ValidationError(
            {
                "vm": _(
                    "A run-once VM cannot %(what)s: it has no saved configuration, and it is gone from its "
                    "host when it powers off."
                )
                % {"what": _label(change)}
            }
        )
    allowed = CHANGE_FROM_STATES[change]
    if vm.state not in allowed:
        raise ValidationError({"vm": _state_refusal(vm, change, allowed)})


def _label(change: str) -> str:
    # Only the first letter: "change the domain XML", not "change the domain xml".
    label = str(VMChange(change).label)
    return label[:1].lower() + label[1:]


def _state_refusal(vm: VirtualMachine, change: str, allowed: set[str]) -> str:
    state = VMState(vm.state).label.lower() if vm.state in VMState.values else vm.state
    if allowed <= {VMState.STOPPED, VMState.CRASHED}:
        return _("Stop the VM first: %(what)s needs a stopped VM (it is %(state)s).") % {
            "what": _label(change),
            "state": state,
        }
    return _("Cannot %(what)s while the VM is %(state)s.") % {"what": _label(change), "state": state}


def request_change(
    user,
    vm: VirtualMachine,
    change: str,
    params: dict | None = None,
    *,
    prepare: Callable[[VirtualMachine], None] | None = None,
    audit: dict | None = None,
) -> Job:
    """Check, queue the job `vm.<change>` with `params`, and audit it (`vm.<change>`), done or refused.

    `prepare(vm)` runs in the queueing transaction with the VM row locked and fresh; it may raise
    ValidationError (nothing is queued then). `audit`: extra details for the audit entry (never secrets).
    """
    details = dict(audit or params or {})
    try:
        with transaction.atomic():
            # PostgreSQL: FOR UPDATE; SQLite's BEGIN IMMEDIATE already serializes writers.
            # (of=self: PostgreSQL refuses to lock the nullable side of the joins.)
            rows = VirtualMachine.objects.select_for_update(of=("self",))
            locked = rows.select_related("host", "template", "owner").get(pk=vm.pk)
            check_change(user, locked, change)
            if prepare is not None:
                prepare(locked)
            job = enqueue(f"vm.{change}", target_for(locked), user, params or {}, queue=job_queue(locked.host))
    except (PermissionDenied, ValidationError) as exc:
        reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        audit_log.record(user, f"vm.{change}", vm, AuditResult.REFUSED, reason=reason, **details)
        raise
    except JobConflict as exc:
        audit_log.record(user, f"vm.{change}", vm, AuditResult.REFUSED, reason=str(exc), **details)
        raise TargetBusy(exc) from None
    audit_log.record(user, f"vm.{change}", vm, job=job.pk, **details)
    return job
