"""Host maintenance: empty a host with one click, and put it back (docs/migration.md).

Entering marks the host out of placement (`Host.maintenance`; it is still watched, unlike a disabled
host) and queues one `host.maintenance` job on it (vms/runners/maintenance.py) that moves each of its
VMs to the host placement chooses among the others: a child `vm.migrate` job per VM, live for the
running ones, offline for the stopped ones. VMs that cannot move (no host with room, paused, a VM the
dashboard does not manage) are reported by the job and keep running where they are. Leaving puts the
host back into placement; it is refused while the job still runs (cancel it first). Admins only; both
are audited.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from audit import log as audit_log
from audit.choices import AuditResult
from jobs.errors import JobConflict, TargetBusy
from jobs.models import Job
from jobs.services import blocking_job, enqueue
from jobs.targets import target_for
from vms.models import Host
from vms.permissions import is_admin

JOB_KIND = "host.maintenance"


def _check(user) -> None:
    if not is_admin(user):
        raise PermissionDenied(_("Only an admin may put a host in maintenance or take it out."))


def enter_maintenance(user, host: Host) -> Job:
    """Out of placement, and the job that moves its VMs away queued; 409 (TargetBusy) while one runs."""
    _check(user)
    try:
        with transaction.atomic():
            Host.objects.filter(pk=host.pk).update(maintenance=True)
            job = enqueue(JOB_KIND, target_for(host), user, {})
    except JobConflict as exc:
        audit_log.record(user, "host.maintenance", host, AuditResult.REFUSED, reason=str(exc))
        raise TargetBusy(exc) from None
    host.maintenance = True
    audit_log.record(user, "host.maintenance", host, job=job.pk)
    return job


def leave_maintenance(user, host: Host) -> None:
    _check(user)
    running = blocking_job(target_for(host))
    if running is not None and running.kind == JOB_KIND:
        conflict = JobConflict(running)
        audit_log.record(user, "host.maintenance-leave", host, AuditResult.REFUSED, reason=str(conflict))
        raise TargetBusy(
            conflict,
            message=_("The VMs of %(host)s are still being moved (job #%(job)s): cancel that job first.")
            % {"host": host.name, "job": running.pk},
        )
    Host.objects.filter(pk=host.pk).update(maintenance=False)
    host.maintenance = False
    audit_log.record(user, "host.maintenance-leave", host)


def maintenance_job(host: Host) -> Job | None:
    """The host's latest maintenance job, for its page."""
    return Job.objects.filter(kind=JOB_KIND, target=target_for(host)).order_by("-pk").first()
