"""A job whose worker and Celery message are both lost is failed by the reaper, with a reason, and
its VM leaves the job-owned state (issue 13 item 7).

A real worker provisions a VM on the sandbox fleet; it is killed with SIGKILL mid-provision and the
job's unacknowledged message is removed from Redis, so nothing will ever deliver it again. Without
the check the job stayed `running` (and the VM `provisioning`, its lock held) forever. Time is moved
through settings.JOBS_LOST_AFTER, not by waiting for the visibility timeout.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone
from rest_framework.test import APIClient

from jobs.choices import JobState
from jobs.execution import fail_lost_jobs
from jobs.models import Job
from tests.support.virsh import virsh
from tests.support.worker import forget_queue, start_worker, stop_worker, wait_for
from vms.choices import VMState
from vms.models import VirtualMachine
from vms.services.reaper import reap

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LOST = "The worker running this job stopped and the job was lost; retry it."


def purge_unacked(queue: str) -> int:
    """Remove the messages of `queue` that a dead worker left unacknowledged (and any restored copy)."""
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    removed = 0
    for tag, raw in client.hscan_iter("unacked"):
        try:
            _message, _exchange, routing_key = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if routing_key == queue:
            client.zrem("unacked_index", tag)
            removed += client.hdel("unacked", tag)
    client.delete(queue)
    return removed


def test_lost_provision_is_failed_with_a_reason_and_its_vm_cleaned_up_and_failed(
    admin_user, settings, fleet_hosts, demo_template, tmp_path
):
    queue = f"vms-lost-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    worker = start_worker(queue, tmp_path / "worker.log", extra_env={"JOBS_FAULTS": "vm.provision:start=pause:120"})
    try:
        client = APIClient()
        client.force_authenticate(admin_user)
        response = client.post("/api/v1/vms/", {"template": demo_template.pk, "name": "lost-one"}, format="json")
        assert response.status_code == 202, response.json()
        vm = VirtualMachine.objects.select_related("host").get(pk=response.json()["id"])
        job = wait_for(
            Job.objects.get(pk=response.json()["job"]["id"]),
            worker,
            lambda j: j.current_step == "start" and j.state == JobState.RUNNING,
            timeout=60,
        )
        assert job.worker.startswith(queue)  # the worker's name, for whoever looks at a stuck job
        assert str(vm.uuid) in virsh(vm.host.uri, "list", "--all", "--uuid")  # defined, not started yet

        # Alive: running for longer than JOBS_LOST_AFTER, but its worker keeps beating, so it stays.
        settings.JOBS_LOST_AFTER = 7  # the worker beats every 5 s (jobs.execution.DEFAULT_HEARTBEAT_INTERVAL)
        first_beat = job.heartbeat_at
        job = wait_for(
            job,
            worker,
            lambda j: j.heartbeat_at > first_beat and timezone.now() - j.started_at > timedelta(seconds=8),
            timeout=30,
        )
        assert fail_lost_jobs() == []
        job.refresh_from_db()
        assert (job.state, job.attempts) == (JobState.RUNNING, 1)

        # Lost: the whole worker dies (nobody acks or rejects) and its message goes with it.
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        assert purge_unacked(queue) == 1
        settings.JOBS_LOST_AFTER = 0  # past the visibility timeout, without waiting for it

        reap(grace=3600)  # the periodic housekeeping (Celery beat): lost jobs first, then orphans

        job.refresh_from_db()
        assert job.state == JobState.FAILED, (job.error, job.log)
        assert job.error == {"step": "start", "message": LOST, "host_message": ""}
        assert job.lock_target is None and job.finished_at is not None
        assert job.attempts == 2  # the check took the job over, so the old attempt could not write again
        assert any("Nothing was heard from the worker" in e["message"] for e in job.log)
        assert {s["name"]: s["state"] for s in job.steps}["start"] == "failed"
        vm.refresh_from_db()
        assert vm.state == VMState.FAILED  # out of `provisioning`, as the runner's on_failure leaves it
        assert str(vm.uuid) not in virsh(vm.host.uri, "list", "--all", "--uuid")
        assert str(vm.uuid) not in virsh(vm.host.uri, "vol-list", "default")
        assert fail_lost_jobs() == []  # once
    finally:
        stop_worker(worker)
        forget_queue(queue)
