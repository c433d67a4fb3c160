"""Provisioning and lifecycle through the API, a real Celery worker, Redis and the sandbox fleet."""

from __future__ import annotations

import io

import pycdlib
import pytest
from rest_framework.test import APIClient

from jobs.choices import JobState
from jobs.models import Job
from sandbox.demo_guest import BANNER
from tests.support.virsh import virsh, virsh_bytes
from tests.support.worker import wait_for
from vms.choices import VMState
from vms.hypervisor.connection import open_connection
from vms.hypervisor.console import ConsoleSession
from vms.models import VirtualMachine

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def domstate(vm: VirtualMachine) -> str:
    return virsh(vm.host.uri, "domstate", str(vm.uuid)).strip()


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def request_vm(api, template, name, **sizes) -> tuple[VirtualMachine, Job]:
    response = api.post("/api/v1/vms/", {"template": template.pk, "name": name, **sizes}, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert {"id", "uuid", "name", "state", "host"} <= body.keys()
    return VirtualMachine.objects.get(pk=body["id"]), Job.objects.get(pk=body["job"]["id"])


def act(api, vm, action, worker) -> Job:
    response = api.post(f"/api/v1/vms/{vm.pk}/actions/{action}/")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["id"]), worker, timeout=90)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    return job


def console_answers(vm: VirtualMachine) -> str:
    conn = open_connection(vm.host.uri)
    try:
        console = ConsoleSession(conn, conn.lookupByUUIDString(str(vm.uuid)))
        # Wait for a prompt first: keys typed while the guest still boots are lost.
        console.write("\n")
        console.read_until("root@demo-guest", timeout=60)
        mark = len(console.buffer)
        console.write("echo $((40+2))-$(hostname)\n")
        text = console.read_until("42-demo-guest", timeout=30, start=mark)
        console.close()
        return text
    finally:
        conn.close()


def test_six_vms_across_three_hosts_then_every_action_and_delete(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    created = [request_vm(api, demo_template, f"demo-{i}") for i in range(6)]
    for _vm, job in created:
        job = wait_for(job, vm_worker, timeout=120)
        assert job.state == JobState.SUCCEEDED, (job.error, job.log)
        # Every step done, but the cloud-init seed: the demo template does not use cloud-init.
        assert {s["name"]: s["state"] for s in job.steps} == {
            "disks": "done",
            "seed": "skipped",
            "define": "done",
            "start": "done",
            "wait": "done",
        }
        assert job.progress == 100
    vms = [VirtualMachine.objects.select_related("host").get(pk=vm.pk) for vm, _ in created]
    assert {vm.state for vm in vms} == {VMState.RUNNING}
    assert {vm.host.name for vm in vms} == {h.name for h in fleet_hosts}, "VMs must spread over all hosts"
    for vm in vms:
        assert domstate(vm) == "running"
        assert f"{vm.uuid}-disk0.qcow2" in virsh(vm.host.uri, "vol-list", "default")
        assert "42-demo-guest" in console_answers(vm)

    vm = vms[0]
    act(api, vm, "suspend", vm_worker)
    assert domstate(vm) == "paused"
    act(api, vm, "resume", vm_worker)
    assert domstate(vm) == "running"
    act(api, vm, "shutdown", vm_worker)  # ACPI: the demo guest powers itself off
    assert domstate(vm) == "shut off"
    act(api, vm, "start", vm_worker)
    assert domstate(vm) == "running"
    act(api, vm, "force-off", vm_worker)
    assert domstate(vm) == "shut off"
    act(api, vm, "start", vm_worker)

    # Reboot while watching the console: the guest boots again and says so.
    conn = open_connection(vm.host.uri)
    console = ConsoleSession(conn, conn.lookupByUUIDString(str(vm.uuid)))
    mark = len(console.buffer)
    act(api, vm, "reboot", vm_worker)
    console.read_until(BANNER, timeout=60, start=mark)
    console.close()
    conn.close()
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING

    for vm in vms:
        response = api.delete(f"/api/v1/vms/{vm.pk}/")
        assert response.status_code == 202, response.json()
        job = wait_for(Job.objects.get(pk=response.json()["id"]), vm_worker, timeout=60)
        assert job.state == JobState.SUCCEEDED, job.error
    for vm in vms:
        vm.refresh_from_db()
        assert vm.state == VMState.DELETED
        assert str(vm.uuid) not in virsh(vm.host.uri, "list", "--all", "--uuid")
        assert str(vm.uuid) not in virsh(vm.host.uri, "vol-list", "default")


def test_invalid_requests_answer_400_and_create_nothing(api, fleet_hosts, demo_template):
    cases = [
        ({"vcpus": demo_template.max_vcpus + 1}, "vcpus"),
        ({"memory_mib": 0}, "memory_mib"),
        ({"disk_gib": "lots"}, "disk_gib"),
        ({"name": "bad name/../x"}, "name"),
        ({"template": 999999}, "template"),
        ({"ssh_keys": ["not a key"]}, "ssh_keys"),
    ]
    for change, field in cases:
        body = {"template": demo_template.pk, "name": "ok-name", **change}
        response = api.post("/api/v1/vms/", body, format="json")
        assert response.status_code == 400, (change, response.content)
        assert field in response.json(), response.json()
    assert not VirtualMachine.objects.exists() and not Job.objects.exists()


def test_duplicate_name_refused(api, fleet_hosts, demo_template, jobs_to_test_queue):
    request_vm(api, demo_template, "twin")
    response = api.post("/api/v1/vms/", {"template": demo_template.pk, "name": "twin"}, format="json")
    assert response.status_code == 400 and "already exists" in response.json()["name"][0]
    assert VirtualMachine.objects.filter(name="twin").count() == 1


def test_cloud_init_seed_iso_is_made_and_attached(api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template):
    demo_template.cloud_init = True
    demo_template.save()
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0m0f0Gk3QpN1x2bVb9q8oQp1y2u3i4o5p6a7s8d9f0 me@laptop"
    response = api.post(
        "/api/v1/vms/", {"template": demo_template.pk, "name": "seeded", "ssh_keys": [key]}, format="json"
    )
    assert response.status_code == 202, response.json()
    vm = VirtualMachine.objects.select_related("host").get(pk=response.json()["id"])
    job = wait_for(Job.objects.get(pk=response.json()["job"]["id"]), vm_worker, timeout=90)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    assert [s["state"] for s in job.steps if s["name"] == "seed"] == ["done"]
    seed = f"{vm.uuid}-seed.iso"
    assert seed in virsh(vm.host.uri, "vol-list", "default")
    xml = virsh(vm.host.uri, "dumpxml", str(vm.uuid))
    assert f"/var/lib/libvirt/images/{seed}" in xml and "device='cdrom'" in xml
    # The seed says who the VM is: read it back from the host's volume.
    data = virsh_bytes(vm.host.uri, "vol-download", "--pool", "default", seed, "/dev/stdout")
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, rr_path="/user-data")
    assert key.split()[1] in out.getvalue().decode()
    assert iso.pvd.volume_identifier.decode().strip() == "cidata"
