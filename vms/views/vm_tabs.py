"""What every tab of a VM's page shares: the header, the tabs, the job timeline, the live scripts.

The tabs: Overview (vms.views.vms.vm_detail), Console, Snapshots, Disks and media, Network, Settings.
Each tab is a page of its own (a link works without JavaScript, and a tab can be bookmarked); each
view builds `tab_context` and adds what its tab shows. Pages read the database, never libvirt.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from jobs.choices import FINISHED, JobState
from jobs.models import Job
from jobs.registry import label_for, registered_kinds
from jobs.selectors import can_view as can_view_job
from jobs.targets import target_for
from vms.choices import ACTION_FROM_STATES, VMAction, VMState
from vms.models import VirtualMachine
from vms.permissions import can_delete_vm, can_operate_vm

JOB_TIMELINE = 15
# (key, label, URL name): the order of the tabs on every VM page.
TABS = [
    ("overview", _("Overview"), "vm-detail"),
    ("console", _("Console"), "vm-console"),
    ("snapshots", _("Snapshots"), "vm-snapshots"),
    ("disks", _("Disks and media"), "vm-disks"),
    ("network", _("Network"), "vm-network"),
    ("settings", _("Settings"), "vm-settings"),
]
# Actions the pages offer, in this order; delete has its own button.
PAGE_ACTIONS = [
    VMAction.START,
    VMAction.SHUTDOWN,
    VMAction.REBOOT,
    VMAction.SUSPEND,
    VMAction.RESUME,
    VMAction.FORCE_OFF,
]
DESTRUCTIVE = {VMAction.FORCE_OFF, VMAction.DELETE}


def page_context() -> dict:
    """What the live scripts need to relabel badges and show the right buttons as states change."""
    return {
        "vm_state_labels": dict(VMState.choices),
        "action_states": {a: sorted(s) for a, s in ACTION_FROM_STATES.items()},
        "page_actions": [(a.value, a.label, a in DESTRUCTIVE) for a in PAGE_ACTIONS],
    }


def tab_context(request: HttpRequest, vm: VirtualMachine, tab: str) -> dict:
    jobs = list(Job.objects.filter(target=target_for(vm)).select_related("requested_by")[:JOB_TIMELINE])
    for job in jobs:
        job.kind_label = label_for(job.kind)
        job.viewable = can_view_job(job, request.user)
    gone = vm.state == VMState.DELETED
    return {
        **page_context(),
        "vm": vm,
        "tab": tab,
        "tabs": TABS,
        "jobs": jobs,
        "current_job": next((j for j in jobs if j.state not in FINISHED), None),
        "job_state_labels": dict(JobState.choices),
        # A job that starts while the page is open is named as the server names it, never "vm.reboot".
        "job_kind_labels": {kind: str(label_for(kind)) for kind in registered_kinds()},
        "may_operate": can_operate_vm(request.user, vm) and not gone,
        "may_delete": can_delete_vm(request.user, vm) and not gone,
        "gone": gone,
        "audit_query": urlencode({"object_type": "vm", "q": vm.name}),
    }


def render_tab(request: HttpRequest, vm: VirtualMachine, tab: str, extra: dict | None = None) -> HttpResponse:
    return render(request, f"vms/tabs/{tab}.html", {**tab_context(request, vm, tab), **(extra or {})})


def say_refusal(request: HttpRequest, exc: Exception) -> None:
    """A refused change as the message on the tab it came from: the reasons, or who may do it."""
    if isinstance(exc, ValidationError):  # TargetBusy too: "another job is running on this VM"
        messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, str(exc) or gettext("You may not do that."))
