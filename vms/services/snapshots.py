"""The rules of a VM's snapshots: names, the per-VM limit, qcow2 disks; then a job through request_change.

Every check that depends on what exists (a name taken, the limit) runs in `prepare`, inside the
transaction that queues the job with the VM row locked; with one job per VM, two racing requests
cannot both pass the limit. The VMSnapshot rows are rewritten by each snapshot job from what libvirt
lists (vms/runners/snapshots.py), so between jobs they are what the host has.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from jobs.errors import JobNotAllowed, RetryRefused
from jobs.models import Job
from vms.choices import VMChange
from vms.hypervisor.snapshots import blocking_disks
from vms.models import VirtualMachine, VMSnapshot
from vms.services.actions import job_vm
from vms.services.changes import check_change, request_change

# The same rule as VM names (vms/services/vms.py): safe in a URL path and in virsh.
SNAPSHOT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
DESCRIPTION_MAX = 1000


def snapshot_limit(vm: VirtualMachine) -> int:
    """How many snapshots the VM may keep: its template's limit, else the deployment's default."""
    if vm.template is not None and vm.template.snapshot_limit is not None:
        return vm.template.snapshot_limit
    return settings.VM_SNAPSHOT_LIMIT


def raw_disk_refusal(vm: VirtualMachine) -> str | None:
    """Why the VM cannot take snapshots because of its disks (read from its saved domain XML), or None."""
    if not vm.domain_xml:
        return None
    blockers = blocking_disks(vm.domain_xml)
    if not blockers:
        return None
    disks = ", ".join(f"{target} ({fmt or _('unknown format')})" for target, fmt in blockers)
    template = vm.template.name if vm.template else _("its template")
    return _(
        "This VM cannot take snapshots: its disk %(disks)s is not qcow2, and only qcow2 disks hold "
        "snapshots. An admin must set the disk format of the template '%(template)s' to qcow2; VMs made "
        "from it afterwards can take snapshots."
    ) % {"disks": disks, "template": template}


def refusal(vm: VirtualMachine) -> str | None:
    """Why the VM cannot take a new snapshot now whatever its name (for the page), or None."""
    reason = raw_disk_refusal(vm)
    if reason:
        return reason
    limit = snapshot_limit(vm)
    if vm.snapshots.count() >= limit:
        return _limit_message(limit)
    return None


def _limit_message(limit: int) -> str:
    return _("This VM has reached its limit of %(limit)d snapshots; delete one first.") % {"limit": limit}


def _validate_input(name: str, description: str) -> None:
    errors = {}
    if not SNAPSHOT_NAME_RE.match(name or ""):
        errors["name"] = _(
            "Use 1 to 63 letters, digits, dots, hyphens or underscores, starting with a letter or digit."
        )
    if len(description or "") > DESCRIPTION_MAX:
        errors["description"] = _("At most %(max)d characters.") % {"max": DESCRIPTION_MAX}
    if errors:
        raise ValidationError(errors)


def take_snapshot(user, vm: VirtualMachine, name: str, description: str = "") -> Job:
    """Queue `vm.snapshot-create`, or raise ValidationError / PermissionDenied / TargetBusy."""
    name = (name or "").strip()
    description = (description or "").strip()

    def prepare(locked: VirtualMachine) -> None:
        _validate_input(name, description)
        reason = raw_disk_refusal(locked)
        if reason:
            raise ValidationError({"vm": reason})
        if VMSnapshot.objects.filter(vm=locked, name=name).exists():
            raise ValidationError(
                {"name": _("This VM already has a snapshot named '%(name)s'; choose another name.") % {"name": name}}
            )
        limit = snapshot_limit(locked)
        if VMSnapshot.objects.filter(vm=locked).count() >= limit:
            raise ValidationError({"vm": _limit_message(limit)})

    return request_change(
        user, vm, VMChange.SNAPSHOT_CREATE, {"name": name, "description": description}, prepare=prepare
    )


def _existing(locked: VirtualMachine, name: str) -> None:
    if not VMSnapshot.objects.filter(vm=locked, name=name).exists():
        raise ValidationError({"name": _("This VM has no snapshot named '%(name)s'.") % {"name": name}})


def revert_to_snapshot(user, vm: VirtualMachine, name: str) -> Job:
    """Queue `vm.snapshot-revert`: the VM comes back as the snapshot was (running or stopped)."""
    return request_change(user, vm, VMChange.SNAPSHOT_REVERT, {"name": name}, prepare=lambda v: _existing(v, name))


def delete_snapshot(user, vm: VirtualMachine, name: str, children: bool = False) -> Job:
    """Queue `vm.snapshot-delete` of one snapshot, or (`children`) of it and everything taken after it."""
    return request_change(
        user,
        vm,
        VMChange.SNAPSHOT_DELETE,
        {"name": name, "children": bool(children)},
        prepare=lambda v: _existing(v, name),
    )


def check_retry(user, job: Job) -> None:
    """A failed snapshot job may run again when the same request would be accepted now.

    Runs in the transaction that queues it again, the VM row locked. Taking a snapshot is checked
    again against the limit and the disks; a name already taken is fine (the job finds it done).
    """
    vm = job_vm(job, lock=True)
    if vm is None:
        raise RetryRefused(_("The VM of this job no longer exists."))
    change = job.kind.removeprefix("vm.")
    try:
        check_change(user, vm, change)
        if change == VMChange.SNAPSHOT_CREATE:
            reason = raw_disk_refusal(vm)
            taken = VMSnapshot.objects.filter(vm=vm).exclude(name=job.params.get("name"))
            if not reason and taken.count() >= snapshot_limit(vm):
                reason = _limit_message(snapshot_limit(vm))
            if reason:
                raise ValidationError(reason)
    except PermissionDenied as exc:
        raise JobNotAllowed(str(exc) or _("You may not change this VM.")) from None
    except ValidationError as exc:
        raise RetryRefused("; ".join(exc.messages)) from None


def snapshot_tree(vm: VirtualMachine) -> list[dict]:
    """The VM's snapshots as nested nodes {"snapshot", "children"}, roots first, each level oldest first.

    A snapshot whose parent is not listed (should not happen) is shown as a root rather than lost.
    """
    snaps = list(vm.snapshots.order_by("created_at", "name"))
    names = {s.name for s in snaps}
    nodes = {s.name: {"snapshot": s, "children": []} for s in snaps}
    roots = []
    for s in snaps:
        if s.parent and s.parent in names and s.parent != s.name:
            nodes[s.parent]["children"].append(nodes[s.name])
        else:
            roots.append(nodes[s.name])
    return roots
