"""Run-once VMs (the seed's `virsh create`): created transient, so powering off removes the domain.

A run-once VM's domain is never defined on its host (vms.runners.vm.ProvisionVM creates it with
`createXML`). When it powers off -- the guest halts itself, someone forces it off, a shutdown
finishes, its host reboots -- libvirt forgets it, and the VM is over: `domain_gone` marks it deleted
(its name and quota are free at once) and queues `vm.run-once-cleanup`
(vms/runners/run_once.py), which removes its disks.

Two callers may notice the same disappearance: the watcher (the domain vanished from the host's
list, vms/watcher/observed.py) and the shutdown or force-off job that caused it. The compare-and-set
to deleted decides: exactly one of them queues the cleanup, the other does nothing.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit import log as audit_log
from jobs.models import Job
from jobs.services import enqueue
from jobs.targets import target_for
from vms.choices import VMState
from vms.models import VirtualMachine
from vms.permissions import can_delete_vm
from vms.services.state import set_state
from vms.services.vms import job_queue

CLEANUP_JOB = "vm.run-once-cleanup"
# States in which a run-once VM's domain disappearing means it powered off. In the job-owned states
# (pending, provisioning, deleting, failed) the job that owns the VM decides what its loss means.
GONE_FROM = [
    VMState.RUNNING,
    VMState.PAUSED,
    VMState.SHUTTING_DOWN,
    VMState.STOPPED,
    VMState.CRASHED,
    VMState.UNKNOWN,
]


def domain_gone(vm: VirtualMachine, actor=None) -> Job | None:  # noqa: ANN001
    """The run-once VM's domain is gone from its host: mark it deleted and queue the removal of its disks.

    Returns the cleanup job, or None when there was nothing to do (not a run-once VM, or someone
    else recorded its end first). `actor`: who powered it off, if a person's job did (None: the guest
    or the host did).
    """
    if not vm.run_once or not vm.managed:
        return None
    with transaction.atomic():
        if not set_state(vm, VMState.DELETED, expected=GONE_FROM):
            return None
        # Not exclusive (vms/runners/run_once.py): the job that powered the VM off may still hold it.
        job = enqueue(CLEANUP_JOB, target_for(vm), actor, {}, queue=job_queue(vm.host))
        audit_log.record(actor, "vm.run-once-gone", vm, job=job.pk, host=vm.host.name if vm.host_id else "")
    return job


def check_cleanup_retry(actor, vm: VirtualMachine | None) -> None:  # noqa: ANN001
    """A failed cleanup may be tried again by whoever could have deleted the VM, once it is deleted."""
    if vm is None:
        raise ValidationError(_("The VM of this job no longer exists."))
    if not can_delete_vm(actor, vm):
        raise PermissionDenied(_("Only the owner, an operator or an admin may remove this VM's disks."))
    if not vm.run_once or vm.state != VMState.DELETED:
        raise ValidationError(_("Only the disks of a run-once VM that is gone from its host are removed this way."))
