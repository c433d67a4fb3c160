"""The Settings tab: autostart, name, notes and tags; for admins the domain XML and its history.

The general part (vCPUs and memory, name, autostart, notes and tags) posts each form to its own URL;
every one calls vms.services.vm_update.update_vm, which checks everything, so a refusal shows on the
form's fields and nothing changes.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from jobs.choices import JobState
from jobs.errors import TargetBusy
from jobs.models import Job
from jobs.targets import target_for
from vms.choices import VMState
from vms.models import VirtualMachine
from vms.selectors import visible_vm_or_404
from vms.services.clones import clone_vm
from vms.services.moves import move_vm
from vms.services.save_template import save_as_template
from vms.services.vm_update import NOTES_MAX, tag_names, update_vm
from vms.views.settings_boot import boot_and_xml_context
from vms.views.vm_clone import CloneForm, clone_form_for
from vms.views.vm_move import MoveForm, SaveAsTemplateForm, move_form_for, save_template_form_for
from vms.views.vm_tabs import render_tab, say_refusal

NEXT_BOOT_LABELS = {"vcpus": gettext_lazy("vCPUs"), "memory_mib": gettext_lazy("memory")}


class SizeForm(forms.Form):
    # Text, not numbers: the service says what is wrong ("Give a whole number", "at most 4 vCPUs").
    vcpus = forms.CharField(label=gettext_lazy("vCPUs"), max_length=12)
    memory_mib = forms.CharField(label=gettext_lazy("Memory (MiB)"), max_length=12)


class RenameForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)


class AutostartForm(forms.Form):
    autostart = forms.BooleanField(label=gettext_lazy("Start when its host boots"), required=False)


class NotesForm(forms.Form):
    notes = forms.CharField(
        label=gettext_lazy("Notes"), widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=NOTES_MAX
    )
    tags = forms.CharField(
        label=gettext_lazy("Tags"),
        required=False,
        max_length=400,
        help_text=gettext_lazy("Words separated by spaces or commas: letters, digits, dots, hyphens, underscores."),
    )


FORMS = {"size": SizeForm, "rename": RenameForm, "autostart": AutostartForm, "notes": NotesForm}


def pending_for_next_boot(vm: VirtualMachine) -> list[str]:
    """What a change saved while the VM ran and could not apply live (vm.update jobs since it started)."""
    if vm.state != VMState.RUNNING:
        return []
    jobs = Job.objects.filter(
        target=target_for(vm), kind="vm.update", state=JobState.SUCCEEDED, finished_at__gt=vm.state_changed_at
    ).values_list("params", flat=True)
    waiting = {field for params in jobs for field in (params or {}).get("next_boot", [])}
    return [str(NEXT_BOOT_LABELS[f]) for f in ("vcpus", "memory_mib") if f in waiting]


def _initial_forms(vm: VirtualMachine) -> dict:
    return {
        "size": SizeForm(initial={"vcpus": vm.vcpus, "memory_mib": vm.memory_mib}, prefix="size"),
        "rename": RenameForm(initial={"name": vm.name}, prefix="rename"),
        "autostart": AutostartForm(initial={"autostart": vm.autostart}, prefix="autostart"),
        "notes": NotesForm(initial={"notes": vm.notes, "tags": " ".join(tag_names(vm))}, prefix="notes"),
    }


def _render(
    request: HttpRequest,
    vm: VirtualMachine,
    bound: dict | None = None,
    status: int = 200,
    clone_form: CloneForm | None = None,
    move_form: MoveForm | None = None,
    save_form: SaveAsTemplateForm | None = None,
) -> HttpResponse:
    forms_ = {**_initial_forms(vm), **(bound or {})}
    template = vm.template
    extra = {
        **boot_and_xml_context(request, vm),
        "settings_forms": forms_,
        "clone_form": clone_form or clone_form_for(request.user, vm),
        "move_form": move_form or move_form_for(request.user, vm),
        "save_form": save_form or save_template_form_for(request.user, vm),
        "next_boot": pending_for_next_boot(vm),
        "vm_tags": tag_names(vm),
        "live_max_vcpus": template.max_live_vcpus if template else 0,
        "live_max_memory_mib": template.max_live_memory_mib if template else 0,
        "max_vcpus": template.max_vcpus if template else vm.vcpus,
        "max_memory_mib": template.max_memory_mib if template else vm.memory_mib,
    }
    response = render_tab(request, vm, "settings", extra)
    response.status_code = status
    return response


@login_required
@require_GET
def vm_settings(request: HttpRequest, uuid) -> HttpResponse:
    vm = visible_vm_or_404(request.user, uuid)
    return _render(request, vm)


@login_required
@require_POST
def vm_settings_general(request: HttpRequest, uuid, part: str) -> HttpResponse:
    """One of the general forms (`part`: size, rename, autostart, notes), posted to update_vm."""
    vm = visible_vm_or_404(request.user, uuid)
    form = FORMS[part](request.POST, prefix=part)
    if not form.is_valid():
        return _render(request, vm, {part: form}, status=400)
    try:
        job = update_vm(request.user, vm, dict(form.cleaned_data))
    except PermissionDenied as exc:
        messages.error(request, str(exc) or _("You may not change this VM."))
        return redirect("vm-settings", uuid=vm.uuid)
    except TargetBusy as exc:
        messages.error(request, str(exc))
        return redirect("vm-settings", uuid=vm.uuid)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _render(request, vm, {part: form}, status=400)
    if job is not None:
        messages.success(request, _("Change requested (job #%(job)s).") % {"job": job.pk})
    else:
        messages.success(request, _("Saved."))
    return redirect("vm-settings", uuid=vm.uuid)


@login_required
@require_POST
def vm_clone(request: HttpRequest, uuid) -> HttpResponse:
    """The Clone form: vms.services.clones.clone_vm checks everything; a refusal shows on the form and
    nothing is made. Success opens the job's page: its steps and the copy's progress, live (the job is
    the source's, so the clone's own page does not list it)."""
    vm = visible_vm_or_404(request.user, uuid)

    def clone(data: dict) -> tuple[Job, str]:
        copy, job = clone_vm(request.user, vm, data["name"], host=data.get("host"))
        return job, _("Copying %(source)s to %(name)s on %(host)s (job #%(job)s).") % {
            "source": vm.name,
            "name": copy.name,
            "host": copy.host.name,
            "job": job.pk,
        }

    return _job_card(request, vm, "clone_form", CloneForm(request.POST, prefix="clone", user=request.user), clone)


def _job_card(request: HttpRequest, vm: VirtualMachine, form_name: str, form: forms.Form, act) -> HttpResponse:
    """A Settings card whose form queues a job: `act(cleaned_data)` (a service call) returns the job and
    the sentence to show. A refusal shows on the form and nothing is made; success opens the job's page,
    where its steps and progress show live."""
    if not form.is_valid():
        return _render(request, vm, status=400, **{form_name: form})
    try:
        job, sentence = act(form.cleaned_data)
    except (PermissionDenied, TargetBusy) as exc:
        say_refusal(request, exc)
        return redirect("vm-settings", uuid=vm.uuid)
    except ValidationError as exc:
        _refused_on(form, exc)
        return _render(request, vm, status=400, **{form_name: form})
    messages.success(request, sentence)
    return redirect("job-detail", pk=job.pk)


def _refused_on(form: forms.Form, exc: ValidationError) -> None:
    """A service's refusal shown on the form: on its field when the form has one, else above it."""
    for field, errors in exc.message_dict.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


@login_required
@require_POST
def vm_move(request: HttpRequest, uuid) -> HttpResponse:
    """The Move form: vms.services.moves.move_vm checks everything; a refusal shows on the form and
    nothing moves. Success opens the job's page (steps, the copy's progress, Cancel)."""
    vm = visible_vm_or_404(request.user, uuid)

    def move(data: dict) -> tuple[Job, str]:
        job = move_vm(request.user, vm, host=data.get("host"))
        return job, _("Moving %(name)s to %(host)s (job #%(job)s).") % {
            "name": vm.name,
            "host": job.params["host"],
            "job": job.pk,
        }

    return _job_card(request, vm, "move_form", MoveForm(request.POST, prefix="move", vm=vm), move)


@login_required
@require_POST
def vm_save_template(request: HttpRequest, uuid) -> HttpResponse:
    """The Save as template form: vms.services.save_template decides; the job's page shows the copy."""
    vm = visible_vm_or_404(request.user, uuid)

    def save(data: dict) -> tuple[Job, str]:
        job = save_as_template(request.user, vm, data["name"])
        return job, _("Saving %(vm)s as the template %(name)s (job #%(job)s).") % {
            "vm": vm.name,
            "name": job.params["name"],
            "job": job.pk,
        }

    return _job_card(request, vm, "save_form", SaveAsTemplateForm(request.POST, prefix="save"), save)
