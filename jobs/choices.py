from django.db import models
from django.utils.translation import gettext_lazy as _


class JobState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    RETRYING = "retrying", _("Retrying")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


FINISHED = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}

# Which state may follow which; services refuse anything else.
TRANSITIONS: dict[str, set[str]] = {
    JobState.QUEUED: {JobState.RUNNING, JobState.CANCELLED, JobState.FAILED},
    JobState.RUNNING: {JobState.SUCCEEDED, JobState.FAILED, JobState.RETRYING, JobState.CANCELLED, JobState.RUNNING},
    JobState.RETRYING: {JobState.RUNNING, JobState.FAILED, JobState.CANCELLED},
    JobState.SUCCEEDED: set(),
    JobState.FAILED: {JobState.QUEUED},  # a user may retry a failed job
    JobState.CANCELLED: set(),
}
