"""The end of a run-once VM: its domain left its host when it powered off; its disks go too.

Queued by vms.services.run_once.domain_gone once the VM is marked deleted. Not exclusive: the
shutdown or force-off job that powered the VM off may still hold the VM when this one is queued,
and the compare-and-set in `domain_gone` already makes sure only one cleanup is queued per VM.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from audit import log as audit_log
from audit.choices import AuditResult
from jobs.errors import JobFailed, JobNotAllowed, RetryRefused
from jobs.registry import register
from vms.hypervisor import domains
from vms.runners.vm import VMRunner, delete_vm_volumes, load_vm, on_host
from vms.services.actions import job_vm
from vms.services.run_once import CLEANUP_JOB, check_cleanup_retry


@register(CLEANUP_JOB)
class RunOnceCleanup(VMRunner):
    label = _("Remove the disks of a run-once VM")
    steps = [("volumes", _("Remove disks"))]
    exclusive = False

    def run(self, ctx) -> None:
        vm = load_vm(ctx.job)
        with on_host(ctx, vm) as conn:
            with ctx.step("volumes"):
                dom = domains.find_by_uuid(conn, str(vm.uuid))
                if dom is not None and dom.isActive():
                    # Never pull disks from under a running guest: someone started it again by hand.
                    raise JobFailed(
                        _t("VM '%(name)s' runs on %(host)s again; its disks were left in place.")
                        % {"name": vm.name, "host": vm.host.name}
                    )
                if dom is not None:
                    domains.undefine(dom)  # defined by hand since: the VM is deleted all the same
                removed = delete_vm_volumes(conn, vm)
                for name in removed:
                    ctx.log(_t("Removed disk %(name)s.") % {"name": name})
                if not removed:
                    ctx.log(_t("No disk of this VM was left on %(host)s.") % {"host": vm.host.name})

    def check_retry(self, job, user) -> None:
        try:
            check_cleanup_retry(user, job_vm(job, lock=True))
        except PermissionDenied as exc:
            raise JobNotAllowed(str(exc)) from None
        except ValidationError as exc:
            raise RetryRefused("; ".join(exc.messages)) from None

    def record_retry(self, job, user, refusal) -> None:
        vm, details = job_vm(job), {"job": job.pk, "kind": job.kind}
        if refusal is None:
            audit_log.record(user, "job.retry", vm, **details)
        else:
            audit_log.record(user, "job.retry", vm, AuditResult.REFUSED, reason=refusal.message, **details)
