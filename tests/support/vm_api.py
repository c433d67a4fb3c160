"""VMs made and changed through the API in sandbox tests: one copy of "post, wait for the job, check it"."""

from __future__ import annotations

from jobs.choices import JobState
from jobs.models import Job
from tests.support.worker import wait_for
from vms.models import VirtualMachine


def create_vm(api, template, name: str, worker, **fields) -> VirtualMachine:
    """POST /api/v1/vms/ (as the admin `api` client) and wait until the VM is provisioned."""
    response = api.post("/api/v1/vms/", {"template": template.pk, "name": name, **fields}, format="json")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["job"]["id"]), worker, timeout=120)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    return VirtualMachine.objects.select_related("host", "template").get(pk=response.json()["id"])


def job_done(response, worker, timeout: float = 90) -> Job:
    """A change answered 202 with its job: wait for it, and it must have succeeded."""
    assert response.status_code == 202, response.content
    job = wait_for(Job.objects.get(pk=response.json()["id"]), worker, timeout=timeout)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    return job
