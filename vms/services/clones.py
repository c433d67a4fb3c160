"""Cloning a VM: a new VM that is a full copy of one, stopped or running (docs/clone.md).

Who: the VM's owner or an admin (an operator share lets someone run a VM, not carry off a copy of its
disks). The clone belongs to whoever asked; for a user who is not staff it takes the same quota as a
request, and a template whose new VMs need an admin's approval refuses it (vms.extensions.check_new_vm).

The job is a change of the source (`vm.clone`, vms/services/changes.py): while it copies, nothing else
runs on the source (one job per VM), so nothing starts or changes it while its disks are copied (a
running source's as of one moment, through libvirt's backup job: vms/hypervisor/backups.py). The
clone's row is made in the transaction that queues the job, placed like a new VM of its template
(another host when asked or when it fits better), in state provisioning; the job
(vms/runners/clones.py) copies every disk, gives it its own seed, defines and starts it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.utils.translation import gettext as _

from jobs.models import Job
from vms import extensions
from vms.choices import VMChange, VMState
from vms.domainxml.clone import copied_disks
from vms.domainxml.errors import DomainXMLError
from vms.models import Host, VirtualMachine
from vms.permissions import can_delete_vm
from vms.services.changes import request_change
from vms.services.placement import Need, NoHostAvailable, choose_host
from vms.services.vms import name_problem


def check_clone(user, source: VirtualMachine) -> None:
    """Raise PermissionDenied or ValidationError unless `user` may clone `source` at all (its state is
    checked with the job, vms.choices.CHANGE_FROM_STATES)."""
    if not can_delete_vm(user, source):  # the owner, operators and admins: what a share never gives
        raise PermissionDenied(_("Only the VM's owner or an admin may clone it."))
    if source.template is None:
        raise ValidationError({"vm": _("This VM's template was deleted, so there is nothing to place a copy by.")})
    try:
        copied_disks(source.domain_xml)
    except (DomainXMLError, ValueError) as exc:
        raise ValidationError({"vm": _("This VM cannot be cloned: %(why)s.") % {"why": exc}}) from None


def clone_vm(
    user, source: VirtualMachine, name: str, host: Host | None = None, linked: bool = False
) -> tuple[VirtualMachine, Job]:
    """Check, record the clone (provisioning) and queue `vm.clone` on the source; nothing is made on refusal."""
    if linked:
        raise ValidationError({"linked": _("Linked clones are not offered: a clone is a full copy of every disk.")})
    name = name.strip() if isinstance(name, str) else ""
    problem = name_problem(name)
    if problem:
        raise ValidationError({"name": problem})
    check_clone(user, source)
    made: list[VirtualMachine] = []
    params = {"name": name}

    def prepare(locked: VirtualMachine) -> None:
        need = Need(locked.vcpus, locked.memory_mib, locked.disk_gib)
        try:
            target = choose_host(locked.template, need, preferred=host)
        except NoHostAvailable as exc:
            raise ValidationError({"host": str(exc)}) from None
        if extensions.check_new_vm is not None:
            extensions.check_new_vm(
                user, locked.template, vcpus=locked.vcpus, memory_mib=locked.memory_mib, disk_gib=locked.disk_gib
            )
        clone = VirtualMachine.objects.create(
            name=name,
            owner=user,
            host=target,
            template=locked.template,
            template_version=locked.template_version,
            vcpus=locked.vcpus,
            memory_mib=locked.memory_mib,
            disk_gib=locked.disk_gib,
            state=VMState.PROVISIONING,
            managed=True,
            autostart=locked.autostart,
        )
        made.append(clone)
        params.update(clone=clone.pk, host=target.name)

    try:
        job = request_change(
            user, source, VMChange.CLONE, params, prepare=prepare, audit={"name": name, "to_host": host and host.name}
        )
    except IntegrityError:
        raise ValidationError(
            {"name": _("A VM named '%(name)s' already exists; choose another name.") % {"name": name}}
        ) from None
    return made[0], job
