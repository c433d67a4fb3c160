"""Pure helpers over the JSON in Job.steps and Job.log: no database, easy to test."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone

from jobs.choices import STEP_FINISHED, LogLevel, StepState

# A job's log is kept in its row; bound it so a chatty runner cannot grow the row without limit.
LOG_LIMIT = 1000


def iso(moment: datetime | None = None) -> str:
    return (moment or timezone.now()).isoformat()


def initial_steps(declared: Iterable[tuple[str, Any]]) -> list[dict]:
    return [
        {"name": name, "label": str(label), "state": StepState.PENDING.value, "started_at": None, "finished_at": None}
        for name, label in declared
    ]


def merge_steps(declared: Iterable[tuple[str, Any]], existing: Sequence[dict]) -> list[dict]:
    """The runner's declared steps, keeping the state recorded for each name so far.

    Used when an attempt starts: a deploy may have changed the runner's steps since the job was queued.
    """
    known = {step["name"]: step for step in existing}
    merged = []
    for fresh in initial_steps(declared):
        old = known.get(fresh["name"])
        merged.append(
            {**fresh, **{k: old[k] for k in ("state", "started_at", "finished_at") if k in old}} if old else fresh
        )
    return merged


def reset_unfinished(steps: Sequence[dict]) -> list[dict]:
    """Steps a stopped attempt left running or failed go back to pending; done and skipped stay."""
    result = []
    for step in steps:
        if step["state"] in (StepState.RUNNING, StepState.FAILED):
            step = {**step, "state": StepState.PENDING.value, "started_at": None, "finished_at": None}
        result.append(dict(step))
    return result


def percent(steps: Sequence[dict], fraction_of_current: float = 0.0) -> int:
    """Finished steps over all steps, plus the running step's own fraction; 0..100."""
    if not steps:
        return 0
    finished = sum(1 for step in steps if step["state"] in STEP_FINISHED)
    fraction = min(max(fraction_of_current, 0.0), 1.0)
    value = int(100 * (finished + fraction) / len(steps))
    return max(0, min(100, value))


def log_entry(log: Sequence[dict], message: object, level: str = LogLevel.INFO, step: str = "") -> dict:
    """A new entry; `seq` grows by one per entry for the life of the job, so live pages can de-duplicate."""
    if level not in LogLevel.values:
        raise ValueError(f"Unknown log level {level!r}; use one of {', '.join(LogLevel.values)}.")
    seq = (log[-1].get("seq", len(log)) + 1) if log else 1
    return {"seq": seq, "at": iso(), "level": str(level), "step": step, "message": str(message)}


def append_log(log: list[dict], entry: dict) -> list[dict]:
    log.append(entry)
    if len(log) > LOG_LIMIT:
        del log[: len(log) - LOG_LIMIT]
    return log
