"""enqueue / retry / cancel: the rules people meet through the API and the pages."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from jobs import services
from jobs.choices import JobState
from jobs.errors import InvalidTransition, JobConflict, JobNotAllowed, UnknownJobKind
from jobs.execution import execute
from jobs.groups import job_group
from jobs.models import Job
from jobs.targets import parse_target, target_for

pytestmark = pytest.mark.django_db


def test_enqueue_refuses_unknown_kinds(alice):
    with pytest.raises(UnknownJobKind):
        services.enqueue("no.such.kind", "", alice)


def test_enqueue_sends_the_task_only_after_commit(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.enqueue("test.steps", "tests.thing:1", alice, {"a": 1}, queue="somewhere")
    # broadcasts of the new job (to its own group, and without the log to its requester's pages)
    # + the dispatch to Celery, all deferred until commit
    assert len(callbacks) == 3
    assert (job.queue, job.params, job.requested_by, job.language) == ("somewhere", {"a": 1}, alice, "en")


def test_exclusive_runner_refuses_a_second_unfinished_job_on_the_same_target(alice):
    first = services.enqueue("test.exclusive", "tests.thing:1", alice)
    with pytest.raises(JobConflict) as refused:
        services.enqueue("test.exclusive", "tests.thing:1", alice)
    assert str(refused.value) == (
        f"Another job (#{first.pk}, Exclusive) is still running on this target; wait for it to finish."
    )
    assert refused.value.blocking == first
    # Other targets, and non-exclusive kinds on the same target, are not blocked.
    services.enqueue("test.exclusive", "tests.thing:2", alice)
    services.enqueue("test.steps", "tests.thing:1", alice)
    # Once the first finishes, the target is free again.
    execute(first.pk)
    services.enqueue("test.exclusive", "tests.thing:1", alice)


def test_the_database_itself_refuses_two_locks_on_one_target(alice):
    """The race-safe part: even a writer that skipped the service cannot hold the same lock twice."""
    Job.objects.create(kind="test.exclusive", target="t:1", lock_target="t:1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(kind="test.exclusive", target="t:1", lock_target="t:1")


def test_a_refused_enqueue_leaves_the_callers_transaction_usable(alice):
    services.enqueue("test.exclusive", "tests.thing:1", alice)
    with transaction.atomic():
        with pytest.raises(JobConflict):
            services.enqueue("test.exclusive", "tests.thing:1", alice)
        assert Job.objects.count() == 1  # still usable: the refusal rolled back a savepoint only


def test_retry_of_a_failed_job_requeues_it_keeping_attempts_and_done_steps(alice, tmp_path):
    job = services.enqueue("test.fail", "tests.thing:1", alice, {"marker": str(tmp_path / "m")})
    execute(job.pk)
    job.refresh_from_db()
    services.retry(job, alice)
    job.refresh_from_db()
    assert job.state == JobState.QUEUED
    assert job.attempts == 1
    assert job.error == {}
    assert [s["state"] for s in job.steps] == ["done", "pending", "pending"]
    assert job.finished_at is None
    assert "Retry requested by alice." in job.log[-1]["message"]


def test_retry_reacquires_the_exclusive_lock_or_refuses(alice):
    job = Job.objects.create(kind="test.exclusive", target="tests.thing:1", state=JobState.FAILED, requested_by=alice)
    other = services.enqueue("test.exclusive", "tests.thing:1", alice)
    with pytest.raises(JobConflict, match=f"#{other.pk}"):
        services.retry(job, alice)
    assert Job.objects.get(pk=job.pk).state == JobState.FAILED
    execute(other.pk)
    services.retry(job, alice)
    assert Job.objects.get(pk=job.pk).lock_target == "tests.thing:1"


@pytest.mark.parametrize("state", [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.CANCELLED])
def test_only_failed_jobs_can_be_retried(alice, state):
    job = Job.objects.create(kind="test.steps", state=state, requested_by=alice)
    with pytest.raises(InvalidTransition, match="Only a failed job can be retried"):
        services.retry(job, alice)


def test_cancel_a_queued_job_releases_its_lock(alice):
    job = services.enqueue("test.exclusive", "tests.thing:1", alice)
    services.cancel(job, alice)
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.lock_target is None
    assert "Cancelled by alice" in job.error["message"]
    # The message Celery still holds for it is now a no-op.
    assert execute(job.pk).state == JobState.CANCELLED
    assert Job.objects.get(pk=job.pk).attempts == 0


def test_cancel_a_running_job_only_sets_the_flag(alice):
    job = Job.objects.create(kind="test.steps", state=JobState.RUNNING, requested_by=alice, attempts=1)
    services.cancel(job, alice)
    job.refresh_from_db()
    assert (job.state, job.cancel_requested) == (JobState.RUNNING, True)
    services.cancel(job, alice)  # asking twice is fine


def test_cancel_a_finished_job_is_refused(alice):
    job = Job.objects.create(kind="test.steps", state=JobState.SUCCEEDED, requested_by=alice)
    with pytest.raises(InvalidTransition, match="already finished"):
        services.cancel(job, alice)


def test_only_the_requester_or_staff_may_retry_or_cancel(alice, bob, staff):
    job = Job.objects.create(kind="test.steps", state=JobState.QUEUED, requested_by=alice)
    with pytest.raises(JobNotAllowed):
        services.cancel(job, bob)
    services.cancel(job, staff)
    assert Job.objects.get(pk=job.pk).state == JobState.CANCELLED


def test_payload_and_groups(alice):
    job = services.enqueue("test.exclusive", "tests.thing:7", alice)
    # The requester's own group last: their job list follows their jobs whatever the target.
    assert services.groups_for(job) == [job_group(job.pk), "test-target-tests.thing-7", f"user.{alice.pk}"]
    body = services.payload(job)
    assert body["type"] == "job.progress"
    assert body["job"] == job.pk
    assert body["state"] == "queued"
    assert body["steps"][0]["name"] == "only"
    assert {"kind", "progress", "step", "error", "attempts", "log", "finished"} <= body.keys()
    body["steps"][0]["state"] = "mutated"
    assert job.steps[0]["state"] == "pending"  # a copy: later changes never leak into a queued message


def test_targets_round_trip(alice):
    assert target_for(alice) == f"auth.user:{alice.pk}"
    assert parse_target(target_for(alice)) == ("auth.user", str(alice.pk))
    with pytest.raises(ValueError):
        parse_target("nonsense")
