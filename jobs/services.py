"""The only writers of Job state: enqueue, retry, cancel and the state machine itself.

Running a job lives in jobs/execution.py (called by the Celery task); it uses `transition` from here.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from jobs import progress as steps_
from jobs.choices import FINISHED, JobState, LogLevel, can_transition
from jobs.errors import InvalidTransition, JobConflict, JobError, JobNotAllowed, UnknownJobKind
from jobs.groups import job_group
from jobs.models import Job
from jobs.registry import get_runner_class, runner_setting
from jobs.selectors import can_manage
from live.broadcast import broadcast
from live.groups import user_group

logger = logging.getLogger(__name__)

# How many log entries a live message carries; pages de-duplicate by "seq".
PAYLOAD_LOG_TAIL = 20


# --- state machine ------------------------------------------------------------------------------


def transition(
    job: Job, to: str, *, attempt: int | None = None, expect: dict[str, Any] | None = None, **changes: Any
) -> Job:
    """Move `job` from its current state to `to` with one conditional UPDATE, then broadcast.

    The UPDATE matches the state we read (and, for a worker, its attempt number, and any other
    column values given in `expect`), so of two racing writers exactly one wins; the loser gets
    InvalidTransition and must re-read. Entering a finished state releases the exclusive lock and
    stamps finished_at in the same statement.
    """
    old = job.state
    if not can_transition(old, to):
        raise InvalidTransition(
            _("A job cannot go from %(old)s to %(new)s.") % {"old": JobState(old).label, "new": JobState(to).label}
        )
    now = timezone.now()
    changes = {"state": to, "updated_at": now, **changes}
    if to in FINISHED:
        changes.setdefault("lock_target", None)
        changes.setdefault("finished_at", now)
        changes.setdefault("retry_at", None)
    filters: dict[str, Any] = {**(expect or {}), "pk": job.pk, "state": old}
    if attempt is not None:
        filters["attempts"] = attempt
    if Job.objects.filter(**filters).update(**changes) == 0:
        raise InvalidTransition(
            _("Job #%(id)s changed while we were updating it (it is no longer %(old)s); reload and try again.")
            % {"id": job.pk, "old": JobState(old).label}
        )
    for field, value in changes.items():
        setattr(job, field, value)
    publish(job)
    return job


# --- enqueue, retry, cancel ---------------------------------------------------------------------


def enqueue(
    kind: str,
    target: str = "",
    requested_by: Any = None,
    params: dict | None = None,
    *,
    queue: str | None = None,
) -> Job:
    """Create a queued Job and send it to a worker once the caller's transaction commits.

    Raises UnknownJobKind, or JobConflict when the runner is exclusive and the target already has an
    unfinished exclusive job (the database's unique lock decides, so two racing requests cannot both win).
    """
    runner_cls = get_runner_class(kind)
    if runner_cls is None:
        raise UnknownJobKind(f"No runner is registered for job kind {kind!r}.")
    exclusive = bool(runner_setting(runner_cls, "exclusive") and target)
    job = Job(
        kind=kind,
        target=target,
        lock_target=target if exclusive else None,
        requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
        params=params or {},
        queue=queue or "",
        language=get_language() or "",
        steps=steps_.initial_steps(runner_setting(runner_cls, "steps")),
    )
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction survives a refusal
            job.save()
    except IntegrityError:
        if not exclusive:
            raise
        raise JobConflict(blocking_job(target)) from None
    publish(job)
    dispatch(job)
    return job


def retry(job: Job, user: Any) -> Job:
    """Queue a failed job again. Attempts and finished steps are kept: runners are idempotent.

    A retry acts on the job's target again, so it goes through the target's own checks: the runner's
    `check_retry(job, user)` (if it has one) runs inside the transaction that queues the job and
    raises JobNotAllowed (the person may no longer act on the target) or RetryRefused (the target's
    state, placement, ... does not allow it now). It may lock rows and change them there; they commit
    with the retry or not at all. The runner's `record_retry(job, user, refusal)` (if any) is told
    the outcome: `refusal` None once queued (in the same transaction), else the JobError raised to
    the caller (after the rollback, so the record of a refusal stays).
    """
    _ensure_can_manage(job, user)
    job.refresh_from_db()
    runner_cls = get_runner_class(job.kind)
    runner = runner_cls() if runner_cls is not None else None
    try:
        _requeue(job, user, runner)
    except JobError as exc:
        _record_retry(runner, job, user, exc)
        raise
    dispatch(job)
    return job


def _requeue(job: Job, user: Any, runner: Any) -> None:
    if job.state != JobState.FAILED:
        raise InvalidTransition(
            _("Only a failed job can be retried; job #%(id)s is %(state)s.")
            % {"id": job.pk, "state": JobState(job.state).label}
        )
    if runner is None:
        raise UnknownJobKind(_("This kind of job (%(kind)s) can no longer be run.") % {"kind": job.kind})
    exclusive = bool(runner_setting(runner, "exclusive") and job.target)
    steps = steps_.reset_unfinished(job.steps)
    log = steps_.append_log(
        copy.deepcopy(job.log),
        steps_.log_entry(job.log, _("Retry requested by %(user)s.") % {"user": _who(user)}),
    )
    check = getattr(runner, "check_retry", None)
    try:
        with transaction.atomic():  # a savepoint: a refusal undoes what the check changed
            if check is not None:
                check(job, user)
            transition(
                job,
                JobState.QUEUED,
                lock_target=job.target if exclusive else None,
                steps=steps,
                progress=steps_.percent(steps),
                log=log,
                error={},
                cancel_requested=False,
                current_step="",
                retry_at=None,
                finished_at=None,
                worker="",
                heartbeat_at=None,
            )
            _record_retry(runner, job, user, None)
    except IntegrityError:
        raise JobConflict(blocking_job(job.target)) from None


def _record_retry(runner: Any, job: Job, user: Any, refusal: JobError | None) -> None:
    record = getattr(runner, "record_retry", None)
    if record is not None:
        record(job, user, refusal)


def cancel(job: Job, user: Any) -> Job:
    """Cancel a job that has not started; ask a running one to stop at its next step boundary."""
    _ensure_can_manage(job, user)
    # A worker may claim the job between our read and our write: re-read and decide again.
    for _attempt in range(3):
        job.refresh_from_db()
        if job.state in (JobState.QUEUED, JobState.RETRYING):
            message = _("Cancelled by %(user)s before it finished.") % {"user": _who(user)}
            log = steps_.append_log(
                copy.deepcopy(job.log), steps_.log_entry(job.log, message, LogLevel.WARNING, job.current_step)
            )
            try:
                return transition(
                    job,
                    JobState.CANCELLED,
                    log=log,
                    error={"step": job.current_step, "message": str(message), "host_message": ""},
                )
            except InvalidTransition:
                continue
        if job.state == JobState.RUNNING:
            if job.cancel_requested:
                return job
            # Only the flag: the running attempt owns steps and log and will record the stop itself.
            if Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
                cancel_requested=True, updated_at=timezone.now()
            ):
                job.cancel_requested = True
                publish(job)
                return job
            continue
        break
    raise InvalidTransition(
        _("Job #%(id)s has already finished (%(state)s); there is nothing to cancel.")
        % {"id": job.pk, "state": JobState(job.state).label}
    )


def blocking_job(target: str) -> Job | None:
    return Job.objects.filter(lock_target=target).first()


def dispatch(job: Job) -> None:
    """Send the job to Celery after commit, so the worker always finds the row."""
    job_id, queue = job.pk, job.queue

    def send() -> None:
        from jobs.tasks import run_job  # here: tasks import services

        try:
            # Read at send time, so a test (or a deployment) can point jobs at its own queue.
            run_job.apply_async(args=[job_id], queue=queue or settings.CELERY_TASK_DEFAULT_QUEUE)
        except Exception:
            # The broker is unreachable: say so on the job instead of leaving it queued forever.
            logger.exception("could not send job %s to the queue", job_id)
            fresh = Job.objects.filter(pk=job_id, state=JobState.QUEUED).first()
            if fresh is not None:
                try:
                    transition(
                        fresh,
                        JobState.FAILED,
                        error={
                            "step": "",
                            "message": str(_("The job could not be sent to a worker; try again in a moment.")),
                            "host_message": "",
                        },
                    )
                except InvalidTransition:
                    pass

    transaction.on_commit(send)


# --- broadcast ----------------------------------------------------------------------------------


def payload(job: Job) -> dict:
    """The one live message about a job: sent on every state change and every progress update."""
    # Deep copies: the broadcast goes out after commit, and a running attempt keeps mutating these lists.
    tail = copy.deepcopy(job.log[-PAYLOAD_LOG_TAIL:])
    return {
        "type": "job.progress",
        "job": job.pk,
        "kind": job.kind,
        "target": job.target,
        "state": job.state,
        "finished": job.state in FINISHED,
        "progress": job.progress,
        "step": job.current_step,
        "steps": copy.deepcopy(job.steps),
        "error": copy.deepcopy(job.error),
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "log": tail,
    }


def groups_for(job: Job) -> list[str]:
    groups = [job_group(job.pk)]
    runner_cls = get_runner_class(job.kind)
    if runner_cls is not None and hasattr(runner_cls, "groups"):
        try:
            groups.extend(runner_cls().groups(job))
        except Exception:  # a live view is a convenience: never fail the job over it
            logger.exception("groups() of runner %s failed for job %s", job.kind, job.pk)
    # The requester's pages (their job list) follow their jobs whatever the target; the group hears
    # state and progress only (publish strips the log), and the requester may see the job anyway.
    if job.requested_by_id and user_group(job.requested_by_id) not in groups:
        groups.append(user_group(job.requested_by_id))
    return groups


def publish(job: Job) -> None:
    """The whole message to the job's own group (its socket admits only who may see the job: can_view);
    the target's groups (a VM's page, its owner, the fleet) hear of progress and state, never the log."""
    message = payload(job)
    groups = groups_for(job)
    broadcast(groups[:1], message)
    if groups[1:]:
        broadcast(groups[1:], {key: value for key, value in message.items() if key != "log"})


# --- helpers ------------------------------------------------------------------------------------


def _ensure_can_manage(job: Job, user: Any) -> None:
    if not can_manage(job, user):
        raise JobNotAllowed(_("Only the person who requested this job, or staff, may change it."))


def _who(user: Any) -> str:
    return user.get_username() if getattr(user, "is_authenticated", False) else str(_("the system"))
