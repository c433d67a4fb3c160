"""States are data: job and step states and the allowed job transitions live here and nowhere else."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class JobState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    RETRYING = "retrying", _("Retrying")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class StepState(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class LogLevel(models.TextChoices):
    DEBUG = "debug", _("Debug")
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    ERROR = "error", _("Error")


FINISHED: frozenset[str] = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
UNFINISHED: frozenset[str] = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.RETRYING})
# Steps that count towards progress: nothing more will happen in them.
STEP_FINISHED: frozenset[str] = frozenset({StepState.DONE, StepState.SKIPPED})

# Which state may follow which; jobs.services.transition refuses anything else.
TRANSITIONS: dict[str, frozenset[str]] = {
    # queued -> failed: the worker knows no runner for the job's kind.
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    # running -> running: a worker died mid-job and the broker redelivered it; the next attempt resumes.
    JobState.RUNNING: frozenset(
        {JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.RETRYING, JobState.CANCELLED}
    ),
    JobState.RETRYING: frozenset({JobState.RUNNING, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset({JobState.QUEUED}),  # a person may retry a failed job
    JobState.CANCELLED: frozenset(),
}


def can_transition(old: str, new: str) -> bool:
    return new in TRANSITIONS.get(old, frozenset())
