"""Exceptions runners raise to say how a job should end, and the ones services raise to callers.

Runners convert their own low-level errors (libvirt, OS) into JobFailed or RetryableError: the
framework treats anything else as a bug, fails the job with a generic message and logs the traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from jobs.models import Job


class JobError(Exception):
    """Base of everything this app raises on purpose."""

    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = str(message)


class JobFailed(JobError):
    """Fail for good: the runner's on_failure cleans up and the person sees `message`.

    `host_message` is the hypervisor's own wording, shown beside ours for whoever must fix it.
    """

    def __init__(self, message: object, step: str | None = None, host_message: str = "") -> None:
        super().__init__(message)
        self.step = step
        self.host_message = host_message


class RetryableError(JobError):
    """A transient problem (host busy, connection dropped): the job runs again after a backoff."""

    def __init__(self, message: object, host_message: str = "") -> None:
        super().__init__(message)
        self.host_message = host_message


class UnknownJobKind(JobError, LookupError):
    """No runner is registered for a kind."""


class JobConflict(JobError):
    """An exclusive job cannot start because another unfinished job holds the same target."""

    def __init__(self, blocking: Job | None) -> None:
        self.blocking = blocking
        if blocking is None:
            message = _("Another job is still running on this target; wait for it to finish.")
        else:
            message = _("Another job (#%(id)s, %(kind)s) is still running on this target; wait for it to finish.") % {
                "id": blocking.pk,
                "kind": kind_label(blocking.kind),
            }
        super().__init__(message)


class InvalidTransition(JobError):
    """The state machine does not allow this change, or the job changed under us (lost a race)."""


class JobNotAllowed(JobError):
    """The person may see the job but not act on it."""


def kind_label(kind: str) -> str:
    # Imported here: the registry imports nothing from errors' callers, but keep errors import-light.
    from jobs.registry import label_for

    return str(label_for(kind))


class TargetBusy(ValidationError):
    """Refused because another job is still running on the target: nothing was wrong with the request.

    A ValidationError (pages and the audit treat it as any refusal); the API answers it with 409.
    `conflict` is the JobConflict, whose `blocking` is the job in the way; `field` and `message` say
    where a form shows the refusal and in which words (default: the conflict's sentence on "action").
    """

    def __init__(self, conflict: JobConflict, field: str = "action", message: str | None = None) -> None:
        super().__init__({field: message or conflict.message})
        self.conflict = conflict


class RetryRefused(InvalidTransition):
    """The app that owns the job's target refused a retry: the target's state, or placement, no longer
    allows it. A kind of InvalidTransition, so every door answers it as "not now" (409, with the sentence).

    Raised by a runner's `check_retry(job, user)` (see jobs.services.retry); a refusal because the person
    may no longer act on the target is JobNotAllowed (403).
    """
