"""A lifecycle action asked for in a page or the API: checked, queued as a job, audited either way."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from audit import log as audit_log
from audit.choices import AuditResult
from vms.choices import VMAction
from vms.permissions import can_delete_vm
from vms.services.vms import request_action


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
