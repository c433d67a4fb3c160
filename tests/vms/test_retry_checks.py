"""Retrying a job is a new action on its target: the same checks, refused with a reason, audited.

Issue 13 item 1. The holes: a retry checked only that the caller had requested the job, so a user
could act on a VM after its owner revoked their share, or bring a deleted VM back (the provision
ignored that its state change was refused, so the domain ran while the row said deleted). A runner
must stop when its state change is refused. Quota (failed VMs keep theirs): tests/portal/test_retry_quota.py.

Real libvirt everywhere: the DB-only tests run the real runners in this process (jobs.execution.execute,
what the Celery task calls) against libvirt's test driver; the sandbox tests use real Celery workers
and the sandbox fleet.
"""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from audit.choices import AuditResult
from audit.models import AuditEntry
from jobs import services
from jobs.choices import JobState
from jobs.execution import execute
from jobs.models import Job
from jobs.registry import get_runner_class, registered_kinds
from jobs.targets import target_for
from tests.support.people import fake_host
from tests.support.virsh import virsh
from tests.support.worker import forget_queue, start_worker, stop_worker, wait_for
from vms.choices import ShareLevel, VMState
from vms.models import VirtualMachine, VMShare, VMTemplate
from vms.runners.vm import remove_from_host
from vms.services import sharing
from vms.services.actions import act_on_vm
from vms.services.state import set_state


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def retry_entries(job: Job) -> list[tuple[str, str]]:
    """(actor, result) of the audit entries of retries of `job`."""
    return [
        (e.actor_name, e.result)
        for e in AuditEntry.objects.filter(action="job.retry").order_by("pk")
        if e.details.get("job") == job.pk
    ]


# --- DB and libvirt's test driver: who may retry ---------------------------------------------------


@pytest.fixture
def users(db):
    User = get_user_model()
    return User.objects.create_user("alice"), User.objects.create_user("bob")


@pytest.fixture
def test_driver_host(db):
    """A host on libvirt's test driver: real libvirt calls, no domain of ours on it."""
    return fake_host(name="test-driver")


@pytest.mark.django_db
def test_retry_after_the_share_was_revoked_is_refused_with_a_reason_and_audited(users, test_driver_host):
    alice, bob = users
    vm = VirtualMachine.objects.create(
        name="alice-vm", owner=alice, host=test_driver_host, state=VMState.STOPPED, managed=True
    )
    sharing.share_vm(alice, vm, "bob", ShareLevel.OPERATE)
    job = act_on_vm(bob, vm, "start")
    execute(job.pk)  # the real runner: the test driver has no such domain, so the start fails
    job.refresh_from_db()
    assert job.state == JobState.FAILED, job.error

    # While bob may operate the VM, his retry goes through (and is audited).
    response = api_for(bob).post(f"/api/v1/jobs/{job.pk}/retry/")
    assert response.status_code == 200, response.json()
    execute(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.FAILED

    sharing.unshare_vm(alice, VMShare.objects.get(vm=vm, user=bob))
    response = api_for(bob).post(f"/api/v1/jobs/{job.pk}/retry/")
    assert response.status_code == 403, response.json()
    assert response.json() == {"detail": "You may not operate this VM.", "code": "not_allowed"}
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.lock_target is None
    assert retry_entries(job) == [("bob", AuditResult.OK), ("bob", AuditResult.REFUSED)]
    refused = AuditEntry.objects.filter(action="job.retry", result=AuditResult.REFUSED).get()
    assert refused.object_type == "vm" and refused.object_id == str(vm.pk)
    assert refused.details["reason"] == "You may not operate this VM."


@pytest.mark.django_db
def test_retry_is_refused_from_a_state_the_action_cannot_start_from(users, test_driver_host):
    alice, _bob = users
    vm = VirtualMachine.objects.create(name="alice-vm", owner=alice, host=test_driver_host, state=VMState.STOPPED)
    job = act_on_vm(alice, vm, "start")
    execute(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    set_state(vm, VMState.RUNNING)  # started meanwhile (by hand on the host, seen by the watcher)

    response = api_for(alice).post(f"/api/v1/jobs/{job.pk}/retry/")
    assert response.status_code == 409, response.json()
    assert response.json()["detail"] == "Cannot start a VM that is running."
    assert retry_entries(job) == [("alice", AuditResult.REFUSED)]
    job.refresh_from_db()
    assert job.state == JobState.FAILED


@pytest.mark.django_db
def test_retry_of_a_failed_delete_marks_the_vm_deleting_again(users, test_driver_host):
    """A failed delete leaves the VM `unknown` (not stuck in the job-owned `deleting`); a retry re-marks it."""
    alice, _bob = users
    vm = VirtualMachine.objects.create(name="alice-vm", owner=alice, host=test_driver_host, state=VMState.STOPPED)
    job = act_on_vm(alice, vm, "delete")
    vm.refresh_from_db()
    assert vm.state == VMState.DELETING
    execute(job.pk)  # the test driver has no pool "default": removing the disks fails
    job.refresh_from_db()
    vm.refresh_from_db()
    assert job.state == JobState.FAILED, job.log
    assert vm.state == VMState.UNKNOWN

    services.retry(job, alice)
    vm.refresh_from_db()
    assert vm.state == VMState.DELETING
    assert retry_entries(job) == [("alice", AuditResult.OK)]


@pytest.mark.django_db
def test_failed_provision_leaves_provisioning_even_when_its_cleanup_fails(
    users, test_driver_host, demo_template, monkeypatch
):
    """Else the VM stays in the job-owned `provisioning` state with no job to take it out."""
    alice, _bob = users
    vm = VirtualMachine.objects.create(
        name="half-made", owner=alice, host=test_driver_host, template=demo_template, state=VMState.PROVISIONING
    )
    job = services.enqueue("vm.provision", target_for(vm), alice)
    monkeypatch.setenv("JOBS_FAULTS", "vm.provision:disks=fail")
    execute(job.pk)  # fails in its first step; the cleanup fails too (the test driver has no pool "default")
    job.refresh_from_db()
    vm.refresh_from_db()
    assert job.state == JobState.FAILED
    assert any("Cleaning up after the failure did not finish" in e["message"] for e in job.log)
    assert vm.state == VMState.FAILED


def test_every_vm_app_runner_checks_and_records_a_retry():
    """jobs/ cannot know the VM rules: every runner the VM app registers must bring its own."""
    kinds = [kind for kind in registered_kinds() if kind.startswith(("vm.", "image."))]
    assert "vm.provision" in kinds and "image.copy" in kinds
    for kind in kinds:
        runner = get_runner_class(kind)
        assert callable(getattr(runner, "check_retry", None)), kind
        assert callable(getattr(runner, "record_retry", None)), kind


# --- sandbox fleet and real workers: a deleted VM stays deleted --------------------------------


@pytest.fixture
def broken_template(demo_template):
    """Two disks with the same target: valid for the schema, refused by libvirt at define time."""
    xml = demo_template.domain_xml.replace(
        "<devices>",
        "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='/var/lib/libvirt/images/first.qcow2'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        "<source file='/var/lib/libvirt/images/other.img'/><target dev='vda' bus='virtio'/></disk>",
    )
    return VMTemplate.objects.create(name="Broken for now", domain_xml=xml, max_memory_mib=512, max_vcpus=2)


def failed_provision(api, template, name, worker) -> tuple[VirtualMachine, Job]:
    response = api.post("/api/v1/vms/", {"template": template.pk, "name": name}, format="json")
    assert response.status_code == 202, response.json()
    vm = VirtualMachine.objects.select_related("host").get(pk=response.json()["id"])
    job = wait_for(Job.objects.get(pk=response.json()["job"]["id"]), worker, timeout=60)
    assert job.state == JobState.FAILED and job.error["step"] == "define", (job.error, job.log)
    vm.refresh_from_db()
    assert vm.state == VMState.FAILED
    return vm, job


def domain_uuids(vm: VirtualMachine) -> list[str]:
    return virsh(vm.host.uri, "list", "--all", "--uuid").split()


@pytest.fixture
def no_leftovers(fleet_hosts):
    """conftest's cleanup skips deleted VMs; on code with the holes these tests leave domains of deleted VMs."""
    yield
    for vm in VirtualMachine.objects.select_related("host").filter(state=VMState.DELETED, host__in=fleet_hosts):
        remove_from_host(vm)


@pytest.mark.sandbox
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_retry_of_a_failed_provision_is_allowed_audited_and_runs(
    admin_user, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template, broken_template, no_leftovers
):
    """The checks do not stand in the way of a legitimate retry: the template was fixed, the VM is made."""
    api = api_for(admin_user)
    vm, job = failed_provision(api, broken_template, "fixed-later", vm_worker)
    VMTemplate.objects.filter(pk=broken_template.pk).update(domain_xml=demo_template.domain_xml)

    response = api.post(f"/api/v1/jobs/{job.pk}/retry/")
    assert response.status_code == 200, response.json()
    job = wait_for(job, vm_worker, timeout=90)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert virsh(vm.host.uri, "domstate", str(vm.uuid)).strip() == "running"
    assert retry_entries(job) == [(admin_user.username, AuditResult.OK)]


@pytest.mark.sandbox
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_retry_of_a_deleted_vms_failed_provision_is_refused_and_no_domain_appears(
    admin_user, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template, broken_template, no_leftovers
):
    api = api_for(admin_user)
    vm, job = failed_provision(api, broken_template, "resurrected", vm_worker)
    # Fixed meanwhile: a retry that got through would now make and start the domain.
    VMTemplate.objects.filter(pk=broken_template.pk).update(domain_xml=demo_template.domain_xml)
    response = api.delete(f"/api/v1/vms/{vm.pk}/")
    assert response.status_code == 202, response.json()
    deleted = wait_for(Job.objects.get(pk=response.json()["id"]), vm_worker, timeout=60)
    assert deleted.state == JobState.SUCCEEDED, deleted.error
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED

    response = api.post(f"/api/v1/jobs/{job.pk}/retry/")
    job.refresh_from_db()
    if job.state != JobState.FAILED:  # a retry that got through: let it finish before judging
        wait_for(job, vm_worker, timeout=90)
    assert str(vm.uuid) not in domain_uuids(vm)
    assert response.status_code == 409, response.json()
    assert response.json()["detail"] == (
        "VM 'resurrected' is deleted; only a VM whose creation failed can be created again."
    )
    job.refresh_from_db()
    assert (job.state, job.lock_target) == (JobState.FAILED, None)
    assert not Job.objects.exclude(state__in=[JobState.FAILED, JobState.SUCCEEDED]).exists()
    assert retry_entries(job) == [(admin_user.username, AuditResult.REFUSED)]
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    assert str(vm.uuid) not in domain_uuids(vm)


@pytest.mark.sandbox
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_provision_of_a_vm_that_is_deleted_stops_without_touching_the_host(
    admin_user, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template, no_leftovers
):
    """Past every door (queued straight through jobs.services): the runner itself refuses a deleted VM."""
    vm = VirtualMachine.objects.create(
        name="stays-deleted",
        owner=admin_user,
        host=fleet_hosts[0],
        template=demo_template,
        template_version=demo_template.version,
        state=VMState.DELETED,
        managed=True,
        vcpus=1,
        memory_mib=128,
        disk_gib=1,
    )
    job = wait_for(services.enqueue("vm.provision", target_for(vm), admin_user), vm_worker, timeout=60)
    assert job.state == JobState.FAILED, (job.error, job.log)
    assert job.error["message"] == "VM 'stays-deleted' is deleted now, so this job stops without creating it."
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    assert str(vm.uuid) not in domain_uuids(vm)
    assert str(vm.uuid) not in virsh(vm.host.uri, "vol-list", "default")


@pytest.mark.sandbox
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_vm_deleted_while_provisioning_is_never_started_and_is_cleaned_up(
    admin_user, settings, fleet_hosts, demo_template, tmp_path, no_leftovers
):
    queue = f"vms-deleted-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    # The worker stops for a moment just before the start step's body: the VM is deleted meanwhile.
    worker = start_worker(queue, tmp_path / "worker.log", extra_env={"JOBS_FAULTS": "vm.provision:start=pause:5"})
    try:
        response = api_for(admin_user).post(
            "/api/v1/vms/", {"template": demo_template.pk, "name": "deleted-midway"}, format="json"
        )
        assert response.status_code == 202, response.json()
        vm = VirtualMachine.objects.select_related("host").get(pk=response.json()["id"])
        job = Job.objects.get(pk=response.json()["job"]["id"])
        wait_for(job, worker, lambda j: j.current_step == "start" and j.state == JobState.RUNNING, timeout=60)
        assert str(vm.uuid) in domain_uuids(vm)  # defined, not started
        assert set_state(vm, VMState.DELETED, expected=[VMState.PROVISIONING])

        job = wait_for(job, worker, timeout=60)
        assert job.state == JobState.FAILED, (job.error, job.log)
        assert job.error["step"] == "start"
        assert "is deleted now" in job.error["message"]
        vm.refresh_from_db()
        assert vm.state == VMState.DELETED
        assert str(vm.uuid) not in domain_uuids(vm)
        assert str(vm.uuid) not in virsh(vm.host.uri, "vol-list", "default")
    finally:
        stop_worker(worker)
        forget_queue(queue)
