"""A lifecycle action asked for in a page or the API: checked, queued as a job, audited either way.

The retry of a failed VM job is such an action too: `check_retry` puts it through the same checks as
a new one (vms.runners.vm.VMRunner.check_retry calls it when jobs.services.retry asks), and
`record_retry` audits it, done or refused.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from audit import log as audit_log
from audit.choices import AuditResult
from jobs.errors import JobError, JobNotAllowed, RetryRefused
from jobs.targets import parse_target
from vms.choices import ACTION_FROM_STATES, VMAction, VMState
from vms.models import VirtualMachine
from vms.permissions import can_delete_vm
from vms.services.state import set_state
from vms.services.vms import check_action, check_provision_retry, request_action

PROVISION_JOB = "vm.provision"


def act_on_vm(actor, vm, action: str, **options):
    """`options` go to vms.services.vms.request_action (e.g. remove_from_host=True for a delete)."""
    try:
        if action == VMAction.DELETE and not can_delete_vm(actor, vm):
            raise PermissionDenied(_("Only the owner, an operator or an admin may delete this VM."))
        job = request_action(actor, vm, action, **options)
    except (PermissionDenied, ValidationError) as exc:
        message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        audit_log.record(actor, f"vm.{action}", vm, AuditResult.REFUSED, reason=message)
        raise
    audit_log.record(actor, f"vm.{action}", vm, job=job.pk, **options)
    return job


def job_vm(job, *, lock: bool = False) -> VirtualMachine | None:
    """The VM a VM job acts on, or None when its row is gone; `lock`: row-locked until commit."""
    try:
        _label, pk = parse_target(job.target)
    except ValueError:
        return None
    if lock:
        # PostgreSQL locks the row (FOR UPDATE); SQLite's BEGIN IMMEDIATE already serializes writers.
        VirtualMachine.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True).first()
    return VirtualMachine.objects.select_related("host", "template", "owner").filter(pk=pk).first()


def check_retry(actor, job) -> None:
    """Refuse the retry of a failed VM job unless a new action of its kind would be allowed now.

    Runs inside the transaction that queues the job again (jobs.services.retry): the VM row is locked
    until it commits, so a delete cannot slip in between this check and the queued job. Raises
    JobNotAllowed (the person may no longer act on the VM: a revoked share, another owner) or
    RetryRefused (the VM's state, its template or its host no longer allow it) with the reason.
    """
    vm = job_vm(job, lock=True)
    if vm is None:
        raise RetryRefused(_("The VM of this job no longer exists."))
    action = job.kind.removeprefix("vm.")
    try:
        if job.kind == PROVISION_JOB:
            check_provision_retry(actor, vm)
        elif action == VMAction.DELETE:
            # A delete that failed may have left the VM deleting: retrying it is how it finishes.
            from_states = ACTION_FROM_STATES[VMAction.DELETE] | {VMState.DELETING}
            remove = bool(job.params.get("remove_from_host"))
            check_action(actor, vm, action, remove_from_host=remove, from_states=from_states)
            set_state(vm, VMState.DELETING)  # as a new delete does, in the transaction that queues it
        else:
            check_action(actor, vm, action)
    except PermissionDenied as exc:
        raise JobNotAllowed(str(exc) or _("You may not act on this VM.")) from None
    except ValidationError as exc:
        raise RetryRefused("; ".join(exc.messages)) from None


def record_retry(actor, job, refusal: JobError | None) -> None:
    """Audit the retry of a VM job: `job.retry` on the VM, ok or refused with the reason."""
    vm = job_vm(job)
    details = {"job": job.pk, "kind": job.kind}
    if refusal is None:
        audit_log.record(actor, "job.retry", vm, **details)
    else:
        audit_log.record(actor, "job.retry", vm, AuditResult.REFUSED, reason=refusal.message, **details)
