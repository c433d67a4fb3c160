"""A worker killed in the middle of a provision, and a define the host refuses."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from jobs.choices import JobState
from jobs.models import Job
from tests.support.virsh import virsh
from tests.support.worker import VISIBILITY_TIMEOUT, forget_queue, start_worker, stop_worker, wait_for
from vms.choices import VMState
from vms.models import VirtualMachine, VMTemplate

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("paused_before", ["define", "start", "wait"])
def test_worker_killed_mid_provision_ends_with_one_domain(
    api, settings, fleet_hosts, demo_template, tmp_path, paused_before
):
    queue = f"vms-kill-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    first = start_worker(
        queue, tmp_path / "first.log", extra_env={"JOBS_FAULTS": f"vm.provision:{paused_before}=pause:120"}
    )
    second = None
    try:
        response = api.post(
            "/api/v1/vms/", {"template": demo_template.pk, "name": f"crash-{paused_before}"}, format="json"
        )
        assert response.status_code == 202, response.json()
        vm = VirtualMachine.objects.select_related("host").get(pk=response.json()["id"])
        job = wait_for(
            Job.objects.get(pk=response.json()["job"]["id"]),
            first,
            predicate=lambda j: j.current_step == paused_before and j.state == JobState.RUNNING,
        )
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker: nobody acks, nobody rejects
        first.wait()
        time.sleep(VISIBILITY_TIMEOUT + 0.5)
        second = start_worker(queue, tmp_path / "second.log")
        job = wait_for(job, second, timeout=90)
        assert job.state == JobState.SUCCEEDED, (job.error, job.log)
        assert job.attempts == 2
        vm.refresh_from_db()
        assert vm.state == VMState.RUNNING
        uuids = virsh(vm.host.uri, "list", "--all", "--uuid").split()
        assert uuids.count(str(vm.uuid)) == 1
        volumes = [line.split()[0] for line in virsh(vm.host.uri, "vol-list", "default").splitlines()[2:] if line]
        assert [v for v in volumes if v.startswith(str(vm.uuid))] == [f"{vm.uuid}-disk0.qcow2"]
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
        forget_queue(queue)


def test_define_refused_by_the_host_fails_the_job_and_leaves_no_volume(
    api, fleet_hosts, demo_template, vm_worker, jobs_to_test_queue
):
    # Two disks with the same target: valid for the schema, refused by libvirt at define time.
    xml = demo_template.domain_xml.replace(
        "<devices>",
        "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='/var/lib/libvirt/images/first.qcow2'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        "<source file='/var/lib/libvirt/images/other.img'/><target dev='vda' bus='virtio'/></disk>",
    )
    broken = VMTemplate.objects.create(name="Broken", domain_xml=xml, max_memory_mib=512, max_vcpus=2)
    response = api.post("/api/v1/vms/", {"template": broken.pk, "name": "doomed"}, format="json")
    assert response.status_code == 202, response.json()
    vm = VirtualMachine.objects.select_related("host").get(pk=response.json()["id"])
    job = wait_for(Job.objects.get(pk=response.json()["job"]["id"]), vm_worker, timeout=60)
    assert job.state == JobState.FAILED
    assert job.error["step"] == "define"
    assert "Could not define VM 'doomed'" in job.error["message"]
    assert "vda" in job.error["host_message"]
    vm.refresh_from_db()
    assert vm.state == VMState.FAILED
    assert str(vm.uuid) not in virsh(vm.host.uri, "vol-list", "default")
    assert str(vm.uuid) not in virsh(vm.host.uri, "list", "--all", "--uuid")
