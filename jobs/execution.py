"""Run one delivery of a job: claim it, call its runner, and record how it ended.

Called by the Celery task (jobs/tasks.py) with nothing but the job's id and how many retries
Celery has already made. Returns an Outcome; the task turns `retry_in` into a Celery retry.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from jobs import progress as steps_
from jobs.choices import FINISHED, JobState, LogLevel, StepState
from jobs.context import JobCancelled, JobContext, JobSuperseded
from jobs.errors import InvalidTransition, JobFailed, RetryableError, UnknownJobKind
from jobs.models import Job
from jobs.registry import get_runner, runner_setting
from jobs.services import transition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    state: str  # the job's state after this delivery ("" when the job no longer exists)
    retry_in: float | None = None  # seconds until Celery should deliver the job again
    queue: str = ""


def retry_delay(runner: Any, retries_done: int) -> float:
    """Exponential backoff (base, 2x base, 4x base, ...) plus up to 25 % jitter so retries spread out."""
    base = float(runner_setting(runner, "retry_backoff")) * (2**retries_done)
    return round(base + random.uniform(0, base / 4), 3)


def execute(job_id: int, retries_done: int = 0, worker: str = "") -> Outcome:
    """Run one delivery; `worker` is the Celery worker's hostname, recorded on the job while it runs."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        logger.warning("job %s no longer exists; dropping its message", job_id)
        return Outcome("")
    if job.state in FINISHED:
        # A duplicate delivery (or a retry message for a job cancelled meanwhile): nothing to do.
        logger.info("job %s is already %s; ignoring this delivery", job_id, job.state)
        return Outcome(job.state)
    try:
        runner = get_runner(job.kind)
    except UnknownJobKind:
        return _fail_without_runner(job)
    with translation.override(job.language or settings.LANGUAGE_CODE):
        return _run(job, runner, retries_done, worker)


def _run(job: Job, runner: Any, retries_done: int, worker: str = "") -> Outcome:
    ctx = _claim(job, runner, worker)
    if ctx is None:
        job.refresh_from_db()
        return Outcome(job.state)
    with _heartbeat(job.pk, ctx.attempt):
        return _attempt(ctx, runner, retries_done)


def _attempt(ctx: JobContext, runner: Any, retries_done: int) -> Outcome:
    job = ctx.job
    try:
        try:
            ctx.check_cancelled()
            runner.run(ctx)
        except JobSuperseded:
            raise
        except JobCancelled:
            return _cancelled(ctx)
        except RetryableError as exc:
            if retries_done < int(runner_setting(runner, "max_retries")):
                return _retry_later(ctx, exc, retries_done)
            message = _("%(message)s (gave up after %(count)s retries)") % {
                "message": exc.message,
                "count": retries_done,
            }
            return _failed(ctx, ctx.failed_step, message, exc.host_message)
        except JobFailed as exc:
            return _failed(ctx, exc.step or ctx.failed_step, exc.message, exc.host_message)
        except Exception as exc:
            # A bug or an error the runner did not translate: the traceback is for the server log only.
            logger.exception("job %s (%s) attempt %s failed unexpectedly", job.pk, job.kind, ctx.attempt)
            return _failed(ctx, ctx.failed_step, _unexpected_message(ctx, exc), "")
        return _succeeded(ctx)
    except JobSuperseded:
        logger.warning("job %s: attempt %s was taken over by a later attempt; stopping it", job.pk, ctx.attempt)
        return Outcome("superseded")


def _claim(job: Job, runner: Any, worker: str = "") -> JobContext | None:
    """queued/retrying/running -> running with attempts + 1; None if someone else got there first."""
    previous = job.attempts
    ctx = JobContext(job, runner, previous + 1)
    if job.state == JobState.RUNNING:
        # Only a lost worker leaves a job running with its message redelivered: resume it.
        ctx.note(
            _("The worker running attempt %(n)s stopped unexpectedly; resuming.") % {"n": previous},
            LogLevel.WARNING,
        )
    if ctx.attempt > 1:
        ctx.note(_("Attempt %(n)s.") % {"n": ctx.attempt})
    steps = steps_.reset_unfinished(steps_.merge_steps(runner_setting(runner, "steps"), job.steps))
    try:
        transition(
            job,
            JobState.RUNNING,
            attempt=previous,
            attempts=ctx.attempt,
            steps=steps,
            progress=steps_.percent(steps),
            log=job.log,
            current_step="",
            started_at=job.started_at or timezone.now(),
            retry_at=None,
            worker=worker[:255],
            heartbeat_at=timezone.now(),
        )
    except InvalidTransition:
        logger.info("job %s was claimed or changed by someone else; leaving it", job.pk)
        return None
    return ctx


def _succeeded(ctx: JobContext) -> Outcome:
    ctx.finish_remaining_as_skipped()
    ctx.note(_("Finished."))
    snap = ctx.snapshot()
    _finish(ctx, JobState.SUCCEEDED, {**snap, "progress": 100, "error": {}})
    return Outcome(JobState.SUCCEEDED)


def _failed(ctx: JobContext, step: str, message: object, host_message: str) -> Outcome:
    _cleanup(ctx)
    ctx.note(message, LogLevel.ERROR, step)
    error = {"step": step, "message": str(message), "host_message": host_message}
    _finish(ctx, JobState.FAILED, {**ctx.snapshot(), "error": error})
    return Outcome(JobState.FAILED)


def _cancelled(ctx: JobContext) -> Outcome:
    _cleanup(ctx)
    message = _("Cancelled on request.")
    ctx.note(message, LogLevel.WARNING, ctx.job.current_step)
    error = {"step": ctx.job.current_step, "message": str(message), "host_message": ""}
    _finish(ctx, JobState.CANCELLED, {**ctx.snapshot(), "error": error})
    return Outcome(JobState.CANCELLED)


def _retry_later(ctx: JobContext, exc: RetryableError, retries_done: int) -> Outcome:
    delay = retry_delay(ctx.runner, retries_done)
    ctx.note(
        _("Temporary problem: %(message)s. Trying again in %(seconds)s s.")
        % {"message": exc.message.rstrip("."), "seconds": f"{delay:.0f}" if delay >= 1 else f"{delay:.1f}"},
        LogLevel.WARNING,
        ctx.failed_step,
    )
    snap = ctx.snapshot()
    # The step that hit the problem is not failed: it will run again. Show it as pending meanwhile.
    snap["steps"] = steps_.reset_unfinished(snap["steps"])
    snap["progress"] = steps_.percent(snap["steps"])
    retry_at = timezone.now() + timedelta(seconds=delay)
    _finish(ctx, JobState.RETRYING, {**snap, "retry_at": retry_at})
    return Outcome(JobState.RETRYING, retry_in=delay, queue=ctx.job.queue)


def _cleanup(ctx: JobContext) -> None:
    """The runner's on_failure; its own failure is logged but must not hide the original error."""
    on_failure = getattr(ctx.runner, "on_failure", None)
    if on_failure is None:
        return
    with ctx.cleaning_up():
        try:
            on_failure(ctx)
        except JobSuperseded:
            raise
        except Exception:
            logger.exception("job %s (%s): on_failure raised", ctx.job.pk, ctx.job.kind)
            ctx.note(
                _("Cleaning up after the failure did not finish; an administrator may need to remove leftovers."),
                LogLevel.ERROR,
            )


def _finish(ctx: JobContext, state: str, changes: dict) -> None:
    try:
        transition(ctx.job, state, attempt=ctx.attempt, **changes)
    except InvalidTransition:
        raise JobSuperseded() from None


def _fail_without_runner(job: Job) -> Outcome:
    # The worker was started without the module that registers this kind (a deploy mismatch).
    logger.error("no runner registered for job kind %r (job %s)", job.kind, job.pk)
    message = str(_("This kind of job (%(kind)s) cannot be run by the workers.") % {"kind": job.kind})
    try:
        transition(job, JobState.FAILED, error={"step": "", "message": message, "host_message": ""})
    except InvalidTransition:
        job.refresh_from_db()
    return Outcome(job.state)


def _unexpected_message(ctx: JobContext, exc: Exception) -> str:
    if ctx.failed_step:
        return str(
            _("Unexpected error in step %(step)s (%(error)s); the details are in the server log.")
            % {"step": ctx.job.step_label(ctx.failed_step), "error": type(exc).__name__}
        )
    return str(_("Unexpected error (%(error)s); the details are in the server log.") % {"error": type(exc).__name__})


# --- signs of life, and jobs whose worker is gone ------------------------------------------------

# How often a running attempt says it is alive (seconds); settings.JOBS_HEARTBEAT_INTERVAL overrides.
DEFAULT_HEARTBEAT_INTERVAL = 5.0
# What the person reads on a job that fail_lost_jobs failed.
LOST_REASON = _("The worker running this job stopped and the job was lost; retry it.")


def heartbeat_interval() -> float:
    return float(getattr(settings, "JOBS_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_INTERVAL))


def lost_after() -> float:
    """Seconds without a sign of life after which a running job counts as lost.

    settings.JOBS_LOST_AFTER, else the broker's visibility timeout plus a margin: until then the
    broker may still hand the job's unacknowledged message to another worker, which resumes the job
    (and beats again). Past it, nobody will.
    """
    configured = getattr(settings, "JOBS_LOST_AFTER", None)
    if configured is not None:
        return float(configured)
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    return float(options.get("visibility_timeout", 3600)) + max(60.0, 6 * heartbeat_interval())


@contextmanager
def _heartbeat(job_id: int, attempt: int) -> Iterator[None]:
    """While the runner runs (a long libvirt call included), stamp heartbeat_at every interval.

    A thread of its own with its own database connection; it writes only while this attempt still
    owns the job, and a worker killed with the job stops it with everything else.
    """
    stop = threading.Event()
    interval = heartbeat_interval()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                Job.objects.filter(pk=job_id, state=JobState.RUNNING, attempts=attempt).update(
                    heartbeat_at=timezone.now()
                )
        except Exception:  # a missed beat is not worth failing the job over; the next one may work
            logger.exception("job %s: heartbeat stopped", job_id)
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 5)


def find_lost_jobs(now: datetime | None = None):
    """Running jobs with no sign of life for lost_after() seconds."""
    cutoff = (now or timezone.now()) - timedelta(seconds=lost_after())
    return Job.objects.filter(state=JobState.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    )


def fail_lost_jobs(now: datetime | None = None) -> list[Job]:
    """Fail every lost job with a reason the person can act on, after its runner's cleanup.

    Run periodically (vms.services.reaper.reap, every REAPER_INTERVAL by Celery beat). A job whose
    worker and message were both lost would otherwise stay running, and hold its target, forever.
    """
    return [job for job in find_lost_jobs(now) if fail_lost(job)]


def fail_lost(job: Job) -> bool:
    """Take a lost job over as one more attempt, clean up as a failure would, and fail it.

    Taking it over (attempts + 1, only if its heartbeat is still the one we read) fences off the
    old attempt: if its worker was only slow, every write it makes from now on matches nothing and
    it stops (JobSuperseded). False when the job moved meanwhile (it was alive after all).
    """
    try:
        runner = get_runner(job.kind)
    except UnknownJobKind:
        runner = None
    worker = job.worker
    with translation.override(job.language or settings.LANGUAGE_CODE):
        previous = job.attempts
        ctx = JobContext(job, runner, previous + 1)
        last_seen = job.heartbeat_at or job.updated_at
        ctx.note(
            _("Nothing was heard from the worker %(worker)s running attempt %(n)s since %(at)s.")
            % {"worker": worker or "?", "n": previous, "at": last_seen.isoformat(timespec="seconds")},
            LogLevel.WARNING,
        )
        lost_step = ""  # the step it was in when it went silent (current_step may be one already done)
        for entry in job.steps:
            if entry["state"] == StepState.RUNNING:
                entry.update(state=StepState.FAILED.value, finished_at=steps_.iso())
                lost_step = lost_step or entry["name"]
        try:
            transition(
                job,
                JobState.RUNNING,
                attempt=previous,
                expect={"heartbeat_at": job.heartbeat_at},
                attempts=ctx.attempt,
                steps=job.steps,
                log=job.log,
                worker="",
                heartbeat_at=timezone.now(),
            )
        except InvalidTransition:
            logger.info("job %s showed a sign of life or changed meanwhile; not failing it", job.pk)
            return False
        logger.warning("job %s (%s): worker %r lost; failing the job", job.pk, job.kind, worker)
        try:
            _failed(ctx, lost_step, LOST_REASON, "")
        except JobSuperseded:
            return False
    return True
