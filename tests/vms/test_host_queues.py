"""Per-host queues: a worker that serves only one host's queue runs only that host's jobs."""

import time
import uuid

import pytest

from jobs.choices import JobState
from tests.support.worker import forget_queue, start_worker, stop_worker, wait_for
from vms.services.vms import VMOrder, create_vm

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_jobs_go_to_their_hosts_queue(settings, admin_user, fleet_hosts, demo_template, tmp_path):
    settings.JOBS_PER_HOST_QUEUES = True
    first, second = fleet_hosts[0], fleet_hosts[1]
    worker = start_worker(f"host.{first.name}", tmp_path / "worker.log")
    try:
        vm1, job1 = create_vm(admin_user, VMOrder(demo_template, f"q1-{uuid.uuid4().hex[:6]}", 1, 64, 1, host=first))
        vm2, job2 = create_vm(admin_user, VMOrder(demo_template, f"q2-{uuid.uuid4().hex[:6]}", 1, 64, 1, host=second))
        assert (job1.queue, job2.queue) == (f"host.{first.name}", f"host.{second.name}")
        job1 = wait_for(job1, worker, timeout=60)
        assert job1.state == JobState.SUCCEEDED, job1.error
        # "Nothing runs it" is the point, so there is no state to poll for: the worker is up and idle (job1
        # just ran on it), and gets 2 s in which it would take job2 if it wrongly served that queue.
        time.sleep(2)
        job2.refresh_from_db()
        assert job2.state == JobState.QUEUED, "no worker serves the second host's queue"
    finally:
        stop_worker(worker)
        for host in (first, second):
            forget_queue(f"host.{host.name}")
