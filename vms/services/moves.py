"""Moving a VM to another host: live while it runs, offline while it is stopped (docs/migration.md).

Who: admins (moving VMs is how a fleet is run; an owner may ask an admin). The target is the host the
admin picks or the one placement chooses among the others, checked like a new VM of the VM's
template (memory, storage pool, networks, images); a name the target already has is refused before
anything moves. The job (`vm.migrate`, vms/runners/moves.py) is a change of the VM: one job per VM,
audited, followed on the VM's page. While it runs the VM's row names the host it is moving to
(`moving_to`), so the watcher leaves the row to the job.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from jobs.models import Job
from vms.choices import VMChange, VMState
from vms.models import Host, VirtualMachine
from vms.permissions import is_admin
from vms.services.changes import request_change
from vms.services.placement import Need, NoHostAvailable, choose_host


def check_move(user, vm: VirtualMachine) -> None:
    if not is_admin(user):
        raise PermissionDenied(_("Only an admin may move a VM to another host."))


def _target(vm: VirtualMachine, host: Host | None) -> Host:
    if host is not None and host.pk == vm.host_id:
        raise ValidationError({"host": _("The VM is already on %(host)s: choose another host.") % {"host": host.name}})
    need = Need(vm.vcpus, vm.memory_mib, vm.disk_gib, base_image=False)
    if vm.template is None:
        if host is None:
            raise ValidationError(
                {"host": _("This VM's template was deleted, so placement cannot choose a host: pick one.")}
            )
        if not host.enabled or not host.online:
            raise ValidationError({"host": _("%(host)s is disabled or offline.") % {"host": host.name}})
        return host
    try:
        return choose_host(vm.template, need, preferred=host, exclude=[vm.host_id])
    except NoHostAvailable as exc:
        raise ValidationError({"host": str(exc)}) from None


def move_vm(user, vm: VirtualMachine, host: Host | None = None, live: bool = True, parent: int | None = None) -> Job:
    """Check and queue `vm.migrate`; nothing changes on refusal. `parent`: the host maintenance job
    that asked (vms/runners/maintenance.py), for the record."""
    check_move(user, vm)
    params: dict = {} if parent is None else {"parent": parent}

    def prepare(locked: VirtualMachine) -> None:
        if locked.state == VMState.RUNNING and not live:
            raise ValidationError({"live": _("The VM is running: move it live, or stop it first to move it offline.")})
        target = _target(locked, host)
        taken = (
            VirtualMachine.objects.filter(host=target, name=locked.name)
            .exclude(state=VMState.DELETED)
            .exclude(pk=locked.pk)
        )
        if taken.exists():
            raise ValidationError(
                {
                    "host": _("%(host)s already has a VM named '%(name)s'; rename one of them first.")
                    % {"host": target.name, "name": locked.name}
                }
            )
        params.update(target=target.pk, host=target.name, live=locked.state == VMState.RUNNING)

    return request_change(
        user,
        vm,
        VMChange.MIGRATE,
        params,
        prepare=prepare,
        audit={"from_host": vm.host.name, "to_host": host and host.name},
    )
