"""Changing a VM after it is made: vCPUs, memory, name, autostart (one `vm.update` job), notes and tags.

`update_vm` checks everything first, so bad input changes nothing. Notes and tags live only in the
database: they are saved at once and audited. The rest becomes ONE job through `request_change`
(permission, states, one job per VM), whose params hold only what changes and what it was.

Sizes are recorded on the VM row in the transaction that queues the job, after the quota check:
the quota counts the new size at once, so two changes racing (or a change and a request) cannot both
fit in what is left. The job's failure puts the old sizes back (vms/runners/update.py).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit import log as audit_log
from jobs.errors import JobNotAllowed, RetryRefused
from jobs.models import Job
from vms import extensions
from vms.choices import GONE_STATES, VMChange, VMState
from vms.models import VirtualMachine, VMTag
from vms.permissions import can_operate_vm
from vms.services.actions import job_vm
from vms.services.changes import check_change, request_change
from vms.services.vms import name_problem

FIELDS = ("vcpus", "memory_mib", "autostart", "name", "notes", "tags")
# What the job changes on the host; notes and tags are the dashboard's own.
JOB_FIELDS = ("vcpus", "memory_mib", "name", "autostart")
NOTES_MAX = 4000
TAGS_MAX = 10
TAG_RE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_WHOLE = re.compile(r"^\s*\d+\s*$")
_STOPPED = {VMState.STOPPED, VMState.CRASHED}


def _whole_number(value: Any) -> int | None:
    """An int from an int or a string of digits; None for anything else (bool, 2.5, 'two')."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _WHOLE.match(value):
        return int(value)
    return None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "on", "1", "yes", "false", "off", "0", "no", ""):
        return value.lower() in ("true", "on", "1", "yes")
    return None


def parse_tags(value: Any) -> list[str] | None:
    """A list of words from a list, or from a string separated by commas or spaces (the page's field)."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        return None
    return list(dict.fromkeys(t.strip() for t in value if t.strip()))


def _size(errors: dict, data: dict, field: str, maximum: int, unit: str, live_only: bool = False) -> int | None:
    value = _whole_number(data[field])
    if value is None:
        errors[field] = _("Give a whole number.")
    elif value < 1:
        errors[field] = _("Must be at least 1.")
    elif value > maximum and live_only:
        errors[field] = _("A run-once VM changes only live: at most %(max)s %(unit)s.") % {
            "max": maximum,
            "unit": unit,
        }
    elif value > maximum:
        errors[field] = _("The template allows at most %(max)s %(unit)s.") % {"max": maximum, "unit": unit}
    else:
        return value
    return None


def clean(vm: VirtualMachine, data: dict) -> dict[str, Any]:
    """The validated values of `data` that differ from the VM's; ValidationError naming every bad field."""
    errors: dict[str, str] = {}
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        errors["non_field_errors"] = _("Unknown fields: %(names)s. A VM's %(fields)s may be changed.") % {
            "names": ", ".join(unknown),
            "fields": ", ".join(FIELDS),
        }
    out: dict[str, Any] = {}
    template = vm.template
    # A VM whose template was deleted keeps its size as its limit: it may shrink, not grow.
    max_vcpus = template.max_vcpus if template else vm.vcpus
    max_memory = template.max_memory_mib if template else vm.memory_mib
    if vm.run_once:
        # Never defined, so there is no next boot: a run-once VM changes live or not at all.
        max_vcpus = min(max_vcpus, max(template.max_live_vcpus if template else 0, vm.vcpus))
        max_memory = min(max_memory, max(template.max_live_memory_mib if template else 0, vm.memory_mib))
    if "vcpus" in data:
        value = _size(errors, data, "vcpus", max_vcpus, _("vCPUs"), vm.run_once)
        if value is not None and value != vm.vcpus:
            out["vcpus"] = value
    if "memory_mib" in data:
        value = _size(errors, data, "memory_mib", max_memory, "MiB", vm.run_once)
        if value is not None and value != vm.memory_mib:
            out["memory_mib"] = value
    if "name" in data:
        name = data["name"].strip() if isinstance(data["name"], str) else None
        if name is not None and name != vm.name:
            if vm.run_once:
                errors["name"] = _("A run-once VM is never defined on its host, so it cannot be renamed.")
            elif problem := name_problem(name, renaming=vm):
                errors["name"] = problem
            elif vm.state not in _STOPPED:
                errors["name"] = _("Stop the VM first: a running VM cannot be renamed.")
            else:
                out["name"] = name
        elif name is None:
            errors["name"] = _("Give a name.")
    if "autostart" in data:
        value = _boolean(data["autostart"])
        if value is None:
            errors["autostart"] = _("Give true or false.")
        elif value != vm.autostart:
            if vm.run_once:
                errors["autostart"] = _("A run-once VM is gone when it stops, so it cannot start with its host.")
            else:
                out["autostart"] = value
    if "notes" in data:
        notes = data["notes"] if isinstance(data["notes"], str) else None
        if notes is None:
            errors["notes"] = _("Give the notes as text.")
        elif len(notes) > NOTES_MAX:
            errors["notes"] = _("Notes may be at most %(max)s characters.") % {"max": NOTES_MAX}
        elif notes != vm.notes:
            out["notes"] = notes
    if "tags" in data:
        tags = parse_tags(data["tags"])
        bad = [t for t in tags or [] if not TAG_RE.match(t)]
        if tags is None:
            errors["tags"] = _("Give the tags as a list of words.")
        elif bad:
            errors["tags"] = _(
                "'%(tag)s' is not a tag: use up to 32 letters, digits, dots, hyphens or underscores."
            ) % {"tag": bad[0][:40]}
        elif len(tags) > TAGS_MAX:
            errors["tags"] = _("A VM may have at most %(max)s tags.") % {"max": TAGS_MAX}
        elif sorted(tags) != tag_names(vm):
            out["tags"] = tags
    if errors:
        raise ValidationError(errors)
    return out


def tag_names(vm: VirtualMachine) -> list[str]:
    return sorted(VMTag.objects.filter(vm=vm).values_list("name", flat=True))


def _check_may_change(actor, vm: VirtualMachine) -> None:
    if vm.state in GONE_STATES:
        raise ValidationError({"vm": _("This VM was deleted.")})
    if not can_operate_vm(actor, vm):
        raise PermissionDenied(_("You may not change this VM: it is shared with you to view only."))


def _reserve_sizes(params: dict) -> Any:
    """The `prepare` of the job: quota on growth only, then the new sizes on the (locked) VM row."""

    def prepare(locked: VirtualMachine) -> None:
        was = {}
        growth = {}
        for field in ("vcpus", "memory_mib"):
            if field in params:
                was[field] = getattr(locked, field)
                growth[field] = max(params[field] - was[field], 0)
        if "name" in params:
            was["name"] = locked.name
        if "autostart" in params:
            was["autostart"] = locked.autostart
        if any(growth.values()) and extensions.check_growth is not None:
            extensions.check_growth(locked.owner, **growth)
        sizes = {f: params[f] for f in ("vcpus", "memory_mib") if f in params}
        if sizes:
            VirtualMachine.objects.filter(pk=locked.pk).update(**sizes)
        params["was"] = was  # what on_failure puts back

    return prepare


def update_vm(actor, vm: VirtualMachine, data: dict) -> Job | None:
    """Apply `data` (any of FIELDS); the `vm.update` job when the host must change, else None.

    Raises ValidationError (bad input, state, quota: nothing changed), PermissionDenied, TargetBusy.
    """
    _check_may_change(actor, vm)
    changes = clean(vm, data)
    params = {f: changes[f] for f in JOB_FIELDS if f in changes}
    job = None
    if params:
        audit = dict(params)
        job = request_change(actor, vm, VMChange.UPDATE, params, prepare=_reserve_sizes(params), audit=audit)
    if "notes" in changes or "tags" in changes:
        save_notes_and_tags(actor, vm, changes.get("notes"), changes.get("tags"))
    vm.refresh_from_db()
    return job


def save_notes_and_tags(actor, vm: VirtualMachine, notes: str | None, tags: list[str] | None) -> None:
    """Database only: saved at once, audited as `vm.notes` (the text is not copied into the log)."""
    details: dict[str, Any] = {}
    with transaction.atomic():
        if notes is not None:
            VirtualMachine.objects.filter(pk=vm.pk).update(notes=notes)
            details["notes_chars"] = len(notes)
        if tags is not None:
            VMTag.objects.filter(vm=vm).exclude(name__in=tags).delete()
            existing = set(VMTag.objects.filter(vm=vm).values_list("name", flat=True))
            VMTag.objects.bulk_create([VMTag(vm=vm, name=t) for t in tags if t not in existing])
            details["tags"] = sorted(tags)
        audit_log.record(actor, "vm.notes", vm, **details)


def reserve_again(vm: VirtualMachine, params: dict) -> None:
    """A retried job whose failure gave the sizes back takes them again, with the same quota check."""
    sizes = {f: params[f] for f in ("vcpus", "memory_mib") if f in params}
    if not sizes:
        return
    with transaction.atomic():
        locked = VirtualMachine.objects.select_for_update(of=("self",)).select_related("owner").get(pk=vm.pk)
        growth = {f: max(v - getattr(locked, f), 0) for f, v in sizes.items()}
        if any(growth.values()) and extensions.check_growth is not None:
            extensions.check_growth(locked.owner, **growth)
        VirtualMachine.objects.filter(pk=vm.pk).update(**sizes)


def give_back(vm: VirtualMachine, params: dict, kept: set[str]) -> None:
    """A failed job: the VM row gets back what it was, but for what the host did change (`kept`)."""
    was = {f: v for f, v in (params.get("was") or {}).items() if f in ("vcpus", "memory_mib") and f not in kept}
    if was:
        VirtualMachine.objects.filter(pk=vm.pk).update(**was)


def record_done(vm: VirtualMachine, **fields: Any) -> None:
    """What the host now has (a new name, autostart) goes on the VM row."""
    VirtualMachine.objects.filter(pk=vm.pk).update(**fields)


def check_retry(actor, job) -> None:
    """The retry of a failed `vm.update`: the checks of a new one (permission, state, a stopped VM to rename).

    The sizes are booked again, with the quota, when the retried job runs (`reserve_again`).
    """
    vm = job_vm(job, lock=True)
    if vm is None:
        raise RetryRefused(_("The VM of this job no longer exists."))
    try:
        check_change(actor, vm, VMChange.UPDATE)
        if "name" in job.params and vm.state not in _STOPPED:
            raise ValidationError({"name": _("Stop the VM first: a running VM cannot be renamed.")})
    except PermissionDenied as exc:
        raise JobNotAllowed(str(exc)) from None
    except ValidationError as exc:
        raise RetryRefused("; ".join(exc.messages)) from None
