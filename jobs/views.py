"""Job pages: the list of jobs and one job followed live. Thin: read, authorize, call a service."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from jobs import services
from jobs.choices import FINISHED, JobState, LogLevel, StepState
from jobs.errors import JobError
from jobs.presentation import describe_target, describe_targets, display_log, display_steps
from jobs.registry import label_for
from jobs.selectors import can_manage, visible_jobs
from ui.list_filters import whose_and_state

PAGE_SIZE = 50


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    everyone, state = whose_and_state(request, JobState.values)
    jobs = visible_jobs(request.user)
    if not everyone:
        jobs = jobs.filter(requested_by=request.user)
    if state:
        jobs = jobs.filter(state=state)
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    targets = describe_targets(job.target for job in page)
    for job in page:
        job.kind_label = label_for(job.kind)
        job.target_link = targets.get(job.target)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "jobs/job_list.html",
        {
            "page": page,
            "show_all": everyone,
            "state": state,
            "states": JobState.choices,
            "query": query.urlencode(),
            "state_labels": dict(JobState.choices),
        },
    )


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(visible_jobs(request.user), pk=pk)
    manage = can_manage(job, request.user)
    steps = display_steps(job)
    context = {
        "job": job,
        "kind_label": label_for(job.kind),
        "target_link": describe_target(job.target),
        "steps": steps,
        "log": display_log(job),
        "can_retry": manage and job.state == JobState.FAILED,
        "can_cancel": manage and job.state not in FINISHED and not job.cancel_requested,
        "may_manage": manage,
        "state_labels": dict(JobState.choices),
        "step_state_labels": dict(StepState.choices),
        # job.js labels live log lines with these, as the server does (jobs.presentation.display_log).
        "step_labels": {step["name"]: step["label"] for step in steps},
        "level_labels": dict(LogLevel.choices),
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
