"""A real Celery worker (prefork, one child) on a private queue, against the test database file."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from jobs import services
from jobs.choices import JobState
from jobs.models import Job
from tests.support.worker import VISIBILITY_TIMEOUT, forget_queue, start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

QUEUE = f"jobs-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """One worker for the module; it idles between tests while pytest-django empties the tables."""
    process = start_worker(QUEUE, tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    stop_worker(process)
    forget_queue(QUEUE)


def step_states(job: Job) -> list[str]:
    return [step["state"] for step in job.steps]


def test_worker_runs_a_job_to_success(worker, alice):
    job = wait_for(services.enqueue("test.steps", "tests.thing:1", alice, queue=QUEUE), worker)
    assert job.state == JobState.SUCCEEDED, job.error
    assert (job.progress, job.attempts) == (100, 1)
    assert step_states(job) == ["done", "done", "done"]
    assert {"first step ran", "halfway", "third step ran"} <= {e["message"] for e in job.log}


def test_retryable_error_retries_with_backoff_on_the_same_queue_then_succeeds(worker, alice):
    job = wait_for(services.enqueue("test.flaky", "", alice, {"fail_times": 2}, queue=QUEUE), worker)
    assert job.state == JobState.SUCCEEDED, job.error
    assert job.attempts == 3
    assert sum("Temporary problem" in e["message"] for e in job.log) == 2
    assert "worked on attempt 3" in [e["message"] for e in job.log]
    assert job.error == {}


def test_job_failed_cleans_up_and_reports(worker, alice, tmp_path):
    marker = tmp_path / "cleaned"
    job = services.enqueue("test.fail", "tests.thing:1", alice, {"marker": str(marker)}, queue=QUEUE)
    job = wait_for(job, worker)
    assert job.state == JobState.FAILED
    assert marker.read_text() == "cleaned"
    assert job.error["message"] == "The disk could not be configured."
    assert job.error["step"] == "configure"
    assert job.attempts == 1


def test_broadcasts_reach_the_job_group_and_the_runners_groups(worker, alice):
    target = f"tests.thing:{uuid.uuid4().hex[:6]}"
    extra_group = "test-target-" + target.replace(":", "-")

    async def follow() -> list[dict]:
        return await asyncio.wait_for(collect(), timeout=30)

    async def collect() -> list[dict]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(extra_group, channel)
        await sync_to_async(services.enqueue)("test.exclusive", target, alice, queue=QUEUE)
        seen = []
        while not seen or not seen[-1]["finished"]:
            message = await layer.receive(channel)
            seen.append(message["payload"])
        await layer.group_discard(extra_group, channel)
        return seen

    messages = async_to_sync(follow)()
    states = [m["state"] for m in messages]
    assert states[0] == "queued" and states[-1] == "succeeded"
    assert "running" in states
    assert all(m["type"] == "job.progress" for m in messages)


def test_killed_worker_child_is_redelivered_and_the_job_resumes(worker, alice, tmp_path):
    marker = tmp_path / "first-run-pid"
    job = services.enqueue("test.sleepy", "tests.thing:sleepy", alice, {"marker": str(marker)}, queue=QUEUE)
    wait_for(job, worker, lambda j: j.current_step == "wait", timeout=30)
    deadline = time.monotonic() + 10
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline, "the runner never reached its sleep"
        time.sleep(0.05)
    child_pid = int(marker.read_text())
    assert child_pid != worker.pid  # the pool's child, not the worker's main process

    os.kill(child_pid, signal.SIGKILL)

    job = wait_for(job, worker, timeout=40)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    assert job.attempts == 2
    assert step_states(job) == ["done", "done", "done"]
    messages = [e["message"] for e in job.log]
    assert any("stopped unexpectedly; resuming" in m for m in messages)
    assert "resumed on attempt 2" in messages
    assert job.lock_target is None


def test_whole_worker_killed_then_a_new_worker_gets_the_message_after_the_visibility_timeout(alice, tmp_path):
    """No parent left to requeue: Redis hands the unacked message out again (CELERY_VISIBILITY_TIMEOUT=5).

    Kombu sweeps for expired unacked messages when a worker starts polling, then only every
    unacked_restore_interval x unacked_restore_throttle seconds (10 x 10 by default). So the
    replacement worker is started after the visibility timeout has passed, as a restarted
    worker in production would be; see docs/jobs.md for the transport options that shorten it.
    """
    queue = f"{QUEUE}-kill"
    marker = tmp_path / "first-run-pid"
    first = start_worker(queue, tmp_path / "first.log")
    second = None
    try:
        job = services.enqueue("test.sleepy", "tests.thing:sleepy2", alice, {"marker": str(marker)}, queue=queue)
        wait_for(job, first, lambda j: j.current_step == "wait" and marker.exists(), timeout=30)
        os.killpg(first.pid, signal.SIGKILL)  # main process and pool child: nobody acks or rejects
        first.wait()
        time.sleep(VISIBILITY_TIMEOUT + 0.5)  # the message was delivered before the kill

        second = start_worker(queue, tmp_path / "second.log")
        job = wait_for(job, second, timeout=45)
        assert job.state == JobState.SUCCEEDED, (job.error, job.log)
        assert job.attempts == 2
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
        forget_queue(queue)
