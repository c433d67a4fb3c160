"""Job pages: the list of your jobs and one job followed live. Thin: read, authorize, call a service."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from jobs import services
from jobs.choices import FINISHED, JobState, StepState
from jobs.errors import JobError
from jobs.registry import get_runner_class, label_for
from jobs.selectors import can_manage, visible_jobs

PAGE_SIZE = 50


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    # Staff may look at everyone's jobs with ?all=1; the default is always "mine".
    show_all = request.user.is_staff and request.GET.get("all") == "1"
    jobs = visible_jobs(request.user)
    if not show_all:
        jobs = jobs.filter(requested_by=request.user)
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    for job in page:
        job.kind_label = label_for(job.kind)
    return render(request, "jobs/job_list.html", {"page": page, "show_all": show_all})


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(visible_jobs(request.user), pk=pk)
    manage = can_manage(job, request.user)
    context = {
        "job": job,
        "kind_label": label_for(job.kind),
        "steps": _display_steps(job),
        "can_retry": manage and job.state == JobState.FAILED,
        "can_cancel": manage and job.state not in FINISHED and not job.cancel_requested,
        "may_manage": manage,
        "state_labels": dict(JobState.choices),
        "step_state_labels": dict(StepState.choices),
    }
    return render(request, "jobs/job_detail.html", context)


@login_required
@require_POST
def job_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.retry)


@login_required
@require_POST
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, services.cancel)


def _act(request: HttpRequest, pk: int, operation) -> HttpResponse:
    job = get_object_or_404(visible_jobs(request.user), pk=pk)
    try:
        operation(job, request.user)
    except JobError as exc:
        messages.error(request, exc.message)
    return redirect("job-detail", pk=job.pk)


def _display_steps(job) -> list[dict]:
    """Steps with labels in the viewer's language when the runner is known here, else as stored."""
    declared = {name: label for name, label in getattr(get_runner_class(job.kind), "steps", ())}
    state_labels = dict(StepState.choices)
    return [
        {
            **step,
            "label": declared.get(step["name"], step.get("label") or step["name"]),
            "state_label": state_labels.get(step["state"], step["state"]),
        }
        for step in job.steps
    ]
