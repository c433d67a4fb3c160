"""The transition table and the conditional UPDATE that applies it."""

from __future__ import annotations

import pytest

from jobs import progress
from jobs.choices import FINISHED, TRANSITIONS, JobState, can_transition
from jobs.errors import InvalidTransition
from jobs.models import Job
from jobs.services import transition

pytestmark = pytest.mark.django_db


def make_job(state=JobState.QUEUED, **fields) -> Job:
    return Job.objects.create(kind="test.steps", state=state, **fields)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (JobState.QUEUED, JobState.RUNNING),
        (JobState.RUNNING, JobState.RETRYING),
        (JobState.RETRYING, JobState.RUNNING),
        (JobState.RUNNING, JobState.RUNNING),  # resumed after a lost worker
        (JobState.RUNNING, JobState.SUCCEEDED),
        (JobState.FAILED, JobState.QUEUED),  # retried by a person
    ],
)
def test_allowed_transitions_apply(old, new):
    job = make_job(old)
    transition(job, new)
    assert Job.objects.get(pk=job.pk).state == new == job.state


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (JobState.QUEUED, JobState.SUCCEEDED),
        (JobState.SUCCEEDED, JobState.RUNNING),
        (JobState.CANCELLED, JobState.QUEUED),
        (JobState.FAILED, JobState.RUNNING),
        (JobState.RETRYING, JobState.SUCCEEDED),
    ],
)
def test_refused_transitions_change_nothing(old, new):
    job = make_job(old)
    with pytest.raises(InvalidTransition):
        transition(job, new)
    assert Job.objects.get(pk=job.pk).state == old


def test_finished_states_are_terminal_except_retry_of_failed():
    for state in FINISHED:
        allowed = TRANSITIONS[state]
        assert allowed == ({JobState.QUEUED} if state == JobState.FAILED else set())
    assert all(can_transition(JobState.QUEUED, s) for s in (JobState.RUNNING, JobState.CANCELLED))


def test_conditional_update_loses_to_a_concurrent_writer():
    job = make_job(JobState.QUEUED)
    stale = Job.objects.get(pk=job.pk)
    transition(job, JobState.CANCELLED)  # someone else got there first
    with pytest.raises(InvalidTransition, match="changed while we were updating"):
        transition(stale, JobState.RUNNING)
    assert Job.objects.get(pk=job.pk).state == JobState.CANCELLED


def test_attempt_guard_lets_only_the_current_attempt_write():
    job = make_job(JobState.RUNNING, attempts=2)
    with pytest.raises(InvalidTransition):
        transition(Job.objects.get(pk=job.pk), JobState.SUCCEEDED, attempt=1)
    transition(job, JobState.SUCCEEDED, attempt=2)
    assert Job.objects.get(pk=job.pk).state == JobState.SUCCEEDED


def test_finishing_releases_the_lock_and_stamps_the_time():
    job = make_job(JobState.RUNNING, target="x.y:1", lock_target="x.y:1")
    transition(job, JobState.FAILED)
    fresh = Job.objects.get(pk=job.pk)
    assert fresh.lock_target is None
    assert fresh.finished_at is not None


def test_percent_counts_finished_steps_and_the_running_fraction():
    steps = progress.initial_steps([("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")])
    assert progress.percent(steps) == 0
    steps[0]["state"] = "done"
    steps[1]["state"] = "skipped"
    assert progress.percent(steps) == 50
    assert progress.percent(steps, 0.5) == 62
    assert progress.percent(steps, 7) == 75  # fractions are clamped
    assert progress.percent([]) == 0


def test_log_sequence_survives_trimming():
    log: list[dict] = []
    for i in range(progress.LOG_LIMIT + 5):
        progress.append_log(log, progress.log_entry(log, f"line {i}"))
    assert len(log) == progress.LOG_LIMIT
    assert log[-1]["seq"] == progress.LOG_LIMIT + 5
    with pytest.raises(ValueError):
        progress.log_entry(log, "x", level="shout")
