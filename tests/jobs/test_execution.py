"""Running jobs in this process through the same service the Celery task calls (no Celery involved)."""

from __future__ import annotations

import pytest

from jobs import services
from jobs.choices import JobState, StepState
from jobs.execution import execute, retry_delay
from jobs.models import Job
from jobs.registry import get_runner

pytestmark = pytest.mark.django_db


def states(job: Job) -> dict[str, str]:
    return {step["name"]: step["state"] for step in job.steps}


def test_steps_progress_and_log(alice):
    job = services.enqueue("test.steps", "tests.thing:1", alice)
    assert job.state == JobState.QUEUED
    assert states(job) == {"first": "pending", "second": "pending", "third": "pending"}

    outcome = execute(job.pk)

    job.refresh_from_db()
    assert outcome.state == job.state == JobState.SUCCEEDED
    assert job.progress == 100
    assert job.attempts == 1
    assert states(job) == {"first": "done", "second": "done", "third": "done"}
    assert all(step["started_at"] and step["finished_at"] for step in job.steps)
    messages = [(e["step"], e["level"], e["message"]) for e in job.log]
    assert ("first", "info", "first step ran") in messages
    assert ("second", "debug", "halfway") in messages
    assert [e["seq"] for e in job.log] == list(range(1, len(job.log) + 1))
    assert job.error == {}
    assert job.started_at and job.finished_at


def test_skipped_step_counts_as_finished(alice):
    job = services.enqueue("test.steps", "", alice, {"skip_third": True})
    execute(job.pk)
    job.refresh_from_db()
    assert states(job)["third"] == StepState.SKIPPED
    assert job.progress == 100
    assert any("not needed" in e["message"] for e in job.log)


def test_job_failed_runs_cleanup_and_keeps_a_user_facing_error(alice, tmp_path):
    marker = tmp_path / "cleaned"
    job = services.enqueue("test.fail", "", alice, {"marker": str(marker)})
    execute(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert marker.read_text() == "cleaned"
    assert job.error == {
        "step": "configure",
        "message": "The disk could not be configured.",
        "host_message": "storage pool 'default' is full",
    }
    assert states(job) == {"create": "done", "configure": "failed", "start": "pending"}
    assert any(e["message"] == "removing the thing" for e in job.log)
    assert job.progress == 33
    assert job.lock_target is None


def test_unexpected_exception_gets_a_generic_message_without_internals(alice, caplog):
    job = services.enqueue("test.boom", "", alice)
    execute(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error["step"] == "explode"
    assert job.error["message"].startswith("Unexpected error in step Explode (ZeroDivisionError)")
    shown = str(job.error) + str(job.log)
    assert "/etc/passwd" not in shown
    assert "Traceback" not in shown
    # ...but the server log has it all, and the broken cleanup is noted for the person too.
    assert "secret internal detail" in caplog.text
    assert any("Cleaning up after the failure did not finish" in e["message"] for e in job.log)


def test_retryable_error_asks_for_a_retry_then_succeeds(alice):
    job = services.enqueue("test.flaky", "", alice, {"fail_times": 1})
    first = execute(job.pk, retries_done=0)
    job.refresh_from_db()
    assert first.state == job.state == JobState.RETRYING
    assert 0.2 <= first.retry_in <= 0.25
    assert job.retry_at is not None
    assert states(job) == {"connect": "done", "work": "pending"}  # not shown as failed: it will run again
    assert any("Temporary problem: host is busy" in e["message"] for e in job.log)

    second = execute(job.pk, retries_done=1)
    job.refresh_from_db()
    assert second.state == job.state == JobState.SUCCEEDED
    assert second.retry_in is None
    assert job.attempts == 2


def test_retryable_error_fails_for_good_after_the_last_retry(alice, tmp_path):
    marker = tmp_path / "cleaned"
    job = services.enqueue("test.flaky", "", alice, {"fail_times": 99, "marker": str(marker)})
    budget = get_runner("test.flaky").max_retries
    for retries_done in range(budget):
        assert execute(job.pk, retries_done).retry_in is not None
    outcome = execute(job.pk, budget)
    job.refresh_from_db()
    assert outcome.state == job.state == JobState.FAILED
    assert outcome.retry_in is None
    assert job.attempts == budget + 1
    assert "gave up after 3 retries" in job.error["message"]
    assert job.error["host_message"] == "virDomainCreate: busy"
    assert marker.exists()


def test_backoff_doubles_with_bounded_jitter():
    runner = get_runner("test.steps")  # default backoff: 1 s
    for n, base in enumerate([1, 2, 4, 8]):
        assert base <= retry_delay(runner, n) <= base * 1.25


def test_a_running_job_delivered_again_resumes_with_the_next_attempt(alice):
    """What a redelivered message after a SIGKILLed worker looks like to the service."""
    job = services.enqueue("test.steps", "", alice)
    # Simulate the dead attempt: claimed, first step done, second running.
    steps = [dict(s) for s in job.steps]
    steps[0].update(state="done", finished_at="2026-01-01T00:00:00+00:00")
    steps[1].update(state="running")
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING, attempts=1, steps=steps, progress=33)

    execute(job.pk)

    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    assert job.attempts == 2
    # The step done by the dead attempt was re-entered but never shown as going backwards.
    assert job.steps[0]["finished_at"] == "2026-01-01T00:00:00+00:00"
    assert any("stopped unexpectedly; resuming" in e["message"] for e in job.log)


def test_finished_job_delivered_again_is_a_no_op(alice):
    job = services.enqueue("test.steps", "", alice)
    execute(job.pk)
    job.refresh_from_db()
    before = (job.attempts, job.finished_at, len(job.log))
    assert execute(job.pk).state == JobState.SUCCEEDED
    job.refresh_from_db()
    assert (job.attempts, job.finished_at, len(job.log)) == before


def test_message_for_a_deleted_job_is_dropped():
    assert execute(999_999).state == ""


def test_unknown_kind_fails_the_job_with_a_readable_message(alice):
    job = Job.objects.create(kind="test.not-registered", requested_by=alice)
    execute(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert "cannot be run by the workers" in job.error["message"]


def test_cancel_while_running_stops_at_the_next_step_and_cleans_up(alice, tmp_path):
    marker, reached = tmp_path / "cleaned", tmp_path / "two"
    job = services.enqueue(
        "test.cancel_self", "", alice, {"user_id": alice.pk, "marker": str(marker), "reached_two": str(reached)}
    )
    execute(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert not reached.exists()
    assert marker.exists()
    assert states(job) == {"one": "done", "two": "pending"}
    assert job.error["message"] == "Cancelled on request."
    assert job.lock_target is None


def test_a_superseded_attempt_stops_without_writing(alice):
    """If another attempt took the job over, the old one's writes match nothing and it stops quietly."""
    from jobs.context import JobContext, JobSuperseded

    job = services.enqueue("test.steps", "", alice)
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING, attempts=2)
    job.refresh_from_db()
    old = JobContext(job, get_runner("test.steps"), attempt=1)
    with pytest.raises(JobSuperseded):
        old.log("from a ghost")
    job.refresh_from_db()
    assert job.log == []


def test_unknown_step_name_is_a_programming_error(alice):
    from jobs.context import JobContext

    job = services.enqueue("test.steps", "", alice)
    ctx = JobContext(job, get_runner("test.steps"), attempt=1)
    with pytest.raises(ValueError, match="has no step 'nope'"), ctx.step("nope"):
        pass
