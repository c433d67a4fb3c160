"""What a runner sees while it runs: its job, parameters, steps, progress and log.

One attempt of one job owns the row's steps, log and progress while it runs. Every write is
conditional on (state=running, attempts=this attempt): if another attempt has taken the job over
(a redelivered message after this worker was presumed dead), our writes match nothing and
JobSuperseded stops this attempt quietly instead of two workers interleaving.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jobs import faults
from jobs import progress as steps_
from jobs.choices import JobState, LogLevel, StepState
from jobs.models import Job

logger = logging.getLogger("jobs.runner")

_PY_LEVELS = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARNING: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}


class JobSuperseded(Exception):  # noqa: N818  (a signal, not an error)
    """Another attempt owns the job now; this one must stop without writing. Runners must not catch it."""


class JobCancelled(Exception):  # noqa: N818
    """Someone asked to cancel; raised at a step boundary (or by ctx.check_cancelled()). Do not catch."""


class JobContext:
    def __init__(self, job: Job, runner: Any, attempt: int) -> None:
        self.job = job
        self.runner = runner
        self.attempt = attempt
        # The step a runner exception escaped from, for the error shown to the person.
        self.failed_step: str = ""
        self._fraction = 0.0
        self._cleaning_up = False

    # --- what runners use ------------------------------------------------------------------------

    @property
    def params(self) -> dict:
        return self.job.params

    @property
    def resumed(self) -> bool:
        """True from the second attempt on: earlier attempts may have done part of the work."""
        return self.attempt > 1

    def done_before(self, name: str) -> bool:
        """Whether a step finished in an earlier attempt (a runner may verify instead of redo)."""
        return self._entry(name)["state"] == StepState.DONE

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run one declared step: running on entry, done on exit, failed if an exception escapes.

        A step already done in an earlier attempt is re-entered (runners are idempotent) but stays
        shown as done, so a resumed job never appears to go backwards.
        """
        entry = self._entry(name)
        self.check_cancelled()
        self._fraction = 0.0
        already_done = entry["state"] == StepState.DONE
        if not already_done:
            entry.update(state=StepState.RUNNING.value, started_at=steps_.iso(), finished_at=None)
        self.job.current_step = name
        self._save()
        try:
            faults.before_step(self.job.kind, name)
            yield
        except JobSuperseded:
            raise
        except JobCancelled:
            if not already_done:
                entry.update(state=StepState.PENDING.value, started_at=None, finished_at=None)
            self._save()
            raise
        except Exception:
            self.failed_step = name
            entry.update(state=StepState.FAILED.value, finished_at=steps_.iso())
            self._save()
            raise
        if not already_done:
            entry.update(state=StepState.DONE.value, finished_at=steps_.iso())
        self._fraction = 0.0
        self._save()

    def progress(self, fraction: float) -> None:
        """How far the current step is (0..1); written only when the whole percentage changes."""
        self._fraction = min(max(float(fraction), 0.0), 1.0)
        if steps_.percent(self.job.steps, self._current_fraction()) != self.job.progress:
            self._save()

    def log(self, message: object, level: str = LogLevel.INFO) -> None:
        """A line the person sees on the job page (also written to the server log)."""
        entry = steps_.log_entry(self.job.log, message, level, self.job.current_step)
        steps_.append_log(self.job.log, entry)
        logger.log(_PY_LEVELS[level], "job %s (%s): %s", self.job.pk, self.job.kind, entry["message"])
        self._save()

    def skip(self, name: str, reason: object = "") -> None:
        """Mark a step as not needed (it counts as finished for progress)."""
        entry = self._entry(name)
        if entry["state"] in (StepState.DONE, StepState.SKIPPED):
            return
        entry.update(state=StepState.SKIPPED.value, finished_at=steps_.iso())
        label = entry.get("label") or name
        message = (
            _("Skipped %(step)s: %(reason)s") % {"step": label, "reason": reason}
            if reason
            else _("Skipped %(step)s.") % {"step": label}
        )
        steps_.append_log(self.job.log, steps_.log_entry(self.job.log, message, LogLevel.INFO, name))
        self._save()

    def check_cancelled(self) -> None:
        """Raise JobCancelled if someone asked to cancel; call it inside long loops too."""
        if self._cleaning_up:
            return
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            self.job.cancel_requested = True
            raise JobCancelled()

    # --- used by jobs/execution.py ---------------------------------------------------------------

    def note(self, message: object, level: str = LogLevel.INFO, step: str = "") -> None:
        """Append a log entry without saving (it goes out with the next write)."""
        steps_.append_log(self.job.log, steps_.log_entry(self.job.log, message, level, step))

    @contextmanager
    def cleaning_up(self) -> Iterator[None]:
        self._cleaning_up = True
        try:
            yield
        finally:
            self._cleaning_up = False

    def finish_remaining_as_skipped(self) -> None:
        """On success, steps the runner never entered did not apply to this job."""
        for entry in self.job.steps:
            if entry["state"] in (StepState.PENDING, StepState.RUNNING):
                entry.update(state=StepState.SKIPPED.value, finished_at=steps_.iso())

    def snapshot(self) -> dict:
        return {
            "steps": copy.deepcopy(self.job.steps),
            "log": copy.deepcopy(self.job.log),
            "progress": self.job.progress,
            "current_step": self.job.current_step,
        }

    # --- internals -------------------------------------------------------------------------------

    def _entry(self, name: str) -> dict:
        for entry in self.job.steps:
            if entry["name"] == name:
                return entry
        declared = ", ".join(e["name"] for e in self.job.steps) or "none"
        raise ValueError(f"Runner {self.job.kind!r} has no step {name!r} (declared: {declared}).")

    def _current_fraction(self) -> float:
        # Only a step that is running now adds its fraction; a re-entered done step already counts whole.
        for entry in self.job.steps:
            if entry["name"] == self.job.current_step and entry["state"] == StepState.RUNNING:
                return self._fraction
        return 0.0

    def _save(self) -> None:
        from jobs.services import publish  # services import nothing from here; keep it that way

        self.job.progress = steps_.percent(self.job.steps, self._current_fraction())
        updated = Job.objects.filter(pk=self.job.pk, state=JobState.RUNNING, attempts=self.attempt).update(
            steps=self.job.steps,
            log=self.job.log,
            progress=self.job.progress,
            current_step=self.job.current_step,
            updated_at=timezone.now(),
            heartbeat_at=timezone.now(),  # every write is a sign of life (jobs.execution beats between them)
        )
        if not updated:
            raise JobSuperseded()
        publish(self.job)
