"""Who may see and act on which job. Views, the API and the consumer all ask here."""

from __future__ import annotations

from django.db.models import QuerySet

from jobs.models import Job


def visible_jobs(user) -> QuerySet[Job]:
    """Staff see every job; everyone else the jobs they requested."""
    if user is None or not user.is_authenticated:
        return Job.objects.none()
    qs = Job.objects.select_related("requested_by")
    if user.is_staff:
        return qs
    return qs.filter(requested_by=user)


def can_view(job: Job, user) -> bool:
    return user is not None and user.is_authenticated and (user.is_staff or job.requested_by_id == user.pk)


def can_manage(job: Job, user) -> bool:
    """Retry and cancel: the requester or staff (today the same people who may see it)."""
    return can_view(job, user)
