"""A retry cannot take a user past their quota (issue 13 item 1).

The choice: a failed VM keeps counting against its owner's quota until it is deleted, so a retry of
its provision needs no quota (portal/quotas.py, vms.services.vms.check_provision_retry). Before,
failed VMs were free: submit up to the quota, let the provisions fail, submit again, retry the
failed ones -- without limit.

The provisions fail for real: the real runner runs in this process (jobs.execution.execute, what the
Celery task calls) against a sandbox host, with the project's fault injection (JOBS_FAULTS) failing
its first step. The race runs only on PostgreSQL (real concurrent transactions):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kvmdash pytest tests/portal/test_retry_quota.py
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from audit.choices import AuditResult
from audit.models import AuditEntry
from jobs import services as job_services
from jobs.choices import JobState
from jobs.errors import JobError
from jobs.execution import execute
from jobs.models import Job
from portal import quotas, services
from portal.choices import RequestState
from portal.models import VMRequest
from sandbox import bootstrap
from vms.choices import VMState
from vms.models import VirtualMachine

pytestmark = pytest.mark.sandbox

QUOTA = 3


@pytest.fixture
def sandbox_host(db, sandbox_fleet):
    """One real host: the failed provision's cleanup talks to libvirt as it would in production."""
    hosts = bootstrap.register_sandbox_hosts(sandbox_fleet.hosts(1))
    bootstrap.check_all(hosts)
    hosts[0].refresh_from_db()
    assert hosts[0].online, hosts[0].last_error
    return hosts[0]


def fail_provisions(monkeypatch, jobs: list[Job]) -> None:
    monkeypatch.setenv("JOBS_FAULTS", "vm.provision:disks=fail")
    for job in jobs:
        execute(job.pk)
        job.refresh_from_db()
        assert job.state == JobState.FAILED, (job.error, job.log)
    monkeypatch.delenv("JOBS_FAULTS")


def submit_up_to_the_quota(user, template) -> list[Job]:
    quotas.set_quota(user=user, max_vms=QUOTA, max_vcpus=100, max_memory_mib=100000, max_disk_gib=1000)
    requests = [services.submit_request(user, template, f"vm-{i}", 1, 128, 1) for i in range(QUOTA)]
    assert all(r.state == RequestState.PROVISIONED for r in requests)
    return [Job.objects.get(kind="vm.provision", target=f"vms.virtualmachine:{r.vm_id}") for r in requests]


def refused_for_quota(result) -> bool:
    """Refused over the quota, or (after a few such refusals) throttled before being checked at all."""
    if not isinstance(result, ValidationError):
        return False
    return "quota" in getattr(result, "message_dict", {}) or getattr(result, "code", "") == "throttled"


def alive_vms(user) -> int:
    return VirtualMachine.objects.filter(owner=user).exclude(state=VMState.DELETED).count()


@pytest.mark.django_db
def test_failed_provisions_keep_their_quota_so_retries_cannot_exceed_it(
    alice, auto_template, sandbox_host, private_queue, monkeypatch
):
    jobs = submit_up_to_the_quota(alice, auto_template)
    fail_provisions(monkeypatch, jobs)
    assert set(VirtualMachine.objects.filter(owner=alice).values_list("state", flat=True)) == {VMState.FAILED}
    assert quotas.user_usage(alice).vms == QUOTA  # failed VMs still hold their share

    with pytest.raises(ValidationError) as refused:
        services.submit_request(alice, auto_template, "one-more", 1, 128, 1)
    assert "quota" in refused.value.message_dict

    for job in jobs:
        job_services.retry(job, alice)
        job.refresh_from_db()
        assert job.state == JobState.QUEUED
    assert alive_vms(alice) == QUOTA and quotas.user_usage(alice).vms == QUOTA
    entries = AuditEntry.objects.filter(action="job.retry", actor=alice)
    assert sorted(e.details["job"] for e in entries if e.result == AuditResult.OK) == sorted(j.pk for j in jobs)


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the race needs real concurrent transactions: set DATABASE_URL=postgres://... to run it")


@pytest.mark.django_db(transaction=True)
def test_parallel_retries_and_submits_never_exceed_the_quota(
    postgres_only, alice, auto_template, sandbox_host, private_queue, monkeypatch
):
    jobs = submit_up_to_the_quota(alice, auto_template)
    fail_provisions(monkeypatch, jobs)
    parallel = 30
    barrier = threading.Barrier(parallel)

    def one(i: int):
        try:
            barrier.wait(timeout=30)
            if i % 2:
                return services.submit_request(alice, auto_template, f"extra-{i}", 1, 128, 1)
            job = Job.objects.get(pk=jobs[i % QUOTA].pk)  # each thread its own row, as each request would
            return job_services.retry(job, alice)
        except (ValidationError, JobError) as exc:
            return exc
        finally:
            connections.close_all()  # this thread's own connection

    with ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(one, range(parallel)))

    submits = [r for i, r in enumerate(results) if i % 2]
    retries = [r for i, r in enumerate(results) if not i % 2]
    assert all(refused_for_quota(r) for r in submits), submits
    assert sum(isinstance(r, Job) for r in retries) == QUOTA  # each failed job queued again exactly once
    assert all(isinstance(r, (Job, JobError)) for r in retries), retries
    assert alive_vms(alice) == QUOTA and quotas.user_usage(alice).vms == QUOTA
    assert not VMRequest.objects.filter(requester=alice).exclude(state=RequestState.PROVISIONED).exists()
    assert {j.state for j in Job.objects.filter(pk__in=[j.pk for j in jobs])} == {JobState.QUEUED}
