"""Creating VMs and asking for actions on them: validation, placement, and the job that does it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from jobs.errors import JobConflict, TargetBusy
from jobs.models import Job
from jobs.services import enqueue
from jobs.targets import target_for
from vms.choices import ACTION_FROM_STATES, GONE_STATES, RUN_ONCE_REFUSED_ACTIONS, VMAction, VMState
from vms.models import Host, VirtualMachine, VMTemplate
from vms.permissions import can_delete_vm, can_operate_vm
from vms.services.placement import NOT_RESERVING, Need, NoHostAvailable, choose_host
from vms.services.state import set_state

# Stricter than libvirt's rule (no '/'): the name also becomes a hostname and part of file names.
VM_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
SSH_KEY_RE = re.compile(
    r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( [^\r\n]*)?$"
)


@dataclass(frozen=True)
class VMOrder:
    """What a new VM is made from (the portal's VMOrder model becomes one when it is approved)."""

    template: VMTemplate
    name: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    ssh_keys: tuple[str, ...] = ()
    host: Host | None = None
    # Created transient (the seed's `virsh create`): gone from its host when it powers off.
    run_once: bool = False

    @classmethod
    def with_defaults(cls, template: VMTemplate, name: str, **sizes) -> VMOrder:
        """An order for `template`, its defaults filling the sizes not given (None = not given)."""
        given = {key: value for key, value in sizes.items() if value is not None}
        return cls(
            template=template,
            name=name,
            vcpus=given.pop("vcpus", template.default_vcpus),
            memory_mib=given.pop("memory_mib", template.default_memory_mib),
            disk_gib=given.pop("disk_gib", template.default_disk_gib),
            ssh_keys=tuple(given.pop("ssh_keys", ())),
            host=given.pop("host", None),
            run_once=bool(given.pop("run_once", False)),
        )


def _check_size(errors: dict, field: str, value: object, maximum: int, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        errors[field] = _("Give a whole number.")
    elif value < 1:
        errors[field] = _("Must be at least 1.")
    elif value > maximum:
        errors[field] = _("This template allows at most %(max)s %(unit)s.") % {"max": maximum, "unit": unit}


def name_problem(name: str, renaming: VirtualMachine | None = None) -> str | None:
    """What is wrong with `name` for a new VM, or for `renaming` (its form, or another VM has it), or None."""
    if not VM_NAME_RE.match(name or ""):
        return _("Use 1 to 63 letters, digits, dots, hyphens or underscores, starting with a letter or digit.")
    others = VirtualMachine.objects.exclude(state__in=GONE_STATES)
    if renaming is not None:
        others = others.exclude(pk=renaming.pk)
    if others.filter(name=name).exists():
        return _("A VM named '%(name)s' already exists; choose another name.") % {"name": name}
    return None


def validate_request(req: VMOrder) -> None:
    errors: dict[str, str] = {}
    if not req.template.active:
        errors["template"] = _("This template is retired; choose another one.")
    problem = name_problem(req.name)
    if problem:
        errors["name"] = problem
    _check_size(errors, "vcpus", req.vcpus, req.template.max_vcpus, _("vCPUs"))
    _check_size(errors, "memory_mib", req.memory_mib, req.template.max_memory_mib, "MiB")
    _check_size(errors, "disk_gib", req.disk_gib, req.template.max_disk_gib, "GiB")
    bad_keys = [k for k in req.ssh_keys if not SSH_KEY_RE.match(k.strip())]
    if bad_keys:
        errors["ssh_keys"] = _("Not an OpenSSH public key: %(key)s") % {"key": bad_keys[0][:40]}
    if errors:
        raise ValidationError(errors)


def job_queue(host: Host) -> str | None:
    """The Celery queue for jobs on this host: its own with JOBS_PER_HOST_QUEUES, else the default."""
    return f"host.{host.name}" if settings.JOBS_PER_HOST_QUEUES else None


def create_vm(user, req: VMOrder) -> tuple[VirtualMachine, Job]:
    """Validate, place, record the VM and queue its provisioning; nothing is created on refusal."""
    validate_request(req)
    need = Need(req.vcpus, req.memory_mib, req.disk_gib)
    try:
        with transaction.atomic():
            host = choose_host(req.template, need, preferred=req.host)
            vm = VirtualMachine.objects.create(
                name=req.name,
                owner=user,
                host=host,
                template=req.template,
                template_version=req.template.version,
                vcpus=req.vcpus,
                memory_mib=req.memory_mib,
                disk_gib=req.disk_gib,
                state=VMState.PROVISIONING,
                managed=True,
                run_once=req.run_once,
                # Started with its host when the template says so; a run-once VM has nothing to start.
                autostart=req.template.autostart and not req.run_once,
            )
            job = enqueue("vm.provision", target_for(vm), user, {"ssh_keys": list(req.ssh_keys)}, queue=job_queue(host))
    except NoHostAvailable as exc:
        raise ValidationError({"host": str(exc)}) from None
    except IntegrityError:
        raise ValidationError(
            {"name": _("A VM named '%(name)s' already exists; choose another name.") % {"name": req.name}}
        ) from None
    return vm, job


def check_action(
    user, vm: VirtualMachine, action: str, *, remove_from_host: bool = False, from_states: set[str] | None = None
) -> None:
    """Who may ask for `action` on `vm`, and from which states (ACTION_FROM_STATES unless `from_states`).

    Raises PermissionDenied or ValidationError with the reason. A new action and the retry of a
    failed one both go through here.
    """
    if not can_operate_vm(user, vm):
        raise PermissionDenied(_("You may not operate this VM."))
    if action == VMAction.DELETE and not can_delete_vm(user, vm):
        raise PermissionDenied(_("You may not delete this VM; ask its owner."))
    if action not in ACTION_FROM_STATES:
        raise ValidationError({"action": _("Unknown action '%(a)s'.") % {"a": action}})
    if vm.run_once and action in RUN_ONCE_REFUSED_ACTIONS:
        raise ValidationError(
            {
                "action": _(
                    "A run-once VM cannot be started: once it powers off it is gone from its host. "
                    "Request a new VM instead."
                )
            }
        )
    if vm.state not in (ACTION_FROM_STATES[action] if from_states is None else from_states):
        raise ValidationError(
            {
                "action": _("Cannot %(action)s a VM that is %(state)s.")
                % {"action": VMAction(action).label.lower(), "state": VMState(vm.state).label.lower()}
            }
        )
    if action == VMAction.DELETE and remove_from_host and not user.is_staff:
        raise PermissionDenied(_("Only an admin may remove a discovered VM from its host."))


# A provision may run again on a VM in these states: it failed, or its job never got it further.
PROVISION_RETRY_FROM = {VMState.FAILED, VMState.PENDING, VMState.PROVISIONING}


def check_provision_retry(user, vm: VirtualMachine) -> None:
    """The checks of creating `vm` again (a retry of its failed provision), as for a new VM.

    Who: the owner, an operator or an admin (a share never lets anyone create a VM). State: one of
    PROVISION_RETRY_FROM, never a deleted VM. The template must still exist and be active, and the
    VM's host must still take it (a failed VM holds no room on its host). Quota: none is taken, a
    failed VM keeps counting against its owner's quota until it is deleted (portal/quotas.py).
    Raises PermissionDenied or ValidationError with the reason.
    """
    if not can_delete_vm(user, vm):
        raise PermissionDenied(_("Only the owner, an operator or an admin may create this VM again."))
    if vm.state not in PROVISION_RETRY_FROM:
        raise ValidationError(
            {
                "action": _("VM '%(name)s' is %(state)s; only a VM whose creation failed can be created again.")
                % {"name": vm.name, "state": VMState(vm.state).label.lower()}
            }
        )
    template = vm.template
    if template is None:
        raise ValidationError({"template": _("The VM's template was deleted; it cannot be created.")})
    if not template.active:
        raise ValidationError({"template": _("This template is retired; choose another one.")})
    if vm.host is None:
        raise ValidationError({"host": _("VM '%(name)s' has no host to be created on.") % {"name": vm.name}})
    if vm.state in NOT_RESERVING:
        try:
            choose_host(template, Need(vm.vcpus, vm.memory_mib, vm.disk_gib), preferred=vm.host)
        except NoHostAvailable as exc:
            raise ValidationError({"host": str(exc)}) from None


def request_action(user, vm: VirtualMachine, action: str, *, remove_from_host: bool = False) -> Job:
    """Queue a lifecycle job; refused with a reason when not allowed or not possible now."""
    check_action(user, vm, action, remove_from_host=remove_from_host)
    params = {"remove_from_host": remove_from_host} if action == VMAction.DELETE else {}
    try:
        with transaction.atomic():
            job = enqueue(f"vm.{action}", target_for(vm), user, params, queue=job_queue(vm.host))
            if action == VMAction.DELETE:
                set_state(vm, VMState.DELETING)
    except JobConflict as exc:
        raise TargetBusy(exc) from None
    return job
