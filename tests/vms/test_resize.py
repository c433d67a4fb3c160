"""PATCH /api/v1/vms/{id}/ through a real worker on the sandbox fleet: vCPUs and memory live and saved,
rename, autostart; virsh on the host is the witness. Bad input and view shares change nothing."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from jobs.choices import JobState
from jobs.models import Job
from tests.support.people import make_user
from tests.support.virsh import virsh
from tests.support.vm_api import create_vm as make_vm
from tests.support.worker import wait_for
from vms.choices import VMState
from vms.models import VMShare, VMTag

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def patch(api, vm, worker, **data) -> Job:
    response = api.patch(f"/api/v1/vms/{vm.pk}/", data, format="json")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["id"]), worker, timeout=90)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    return job


def act(api, vm, action, worker) -> None:
    response = api.post(f"/api/v1/vms/{vm.pk}/actions/{action}/")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["id"]), worker, timeout=90)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)


def log_text(job: Job) -> str:
    return "\n".join(entry["message"] for entry in job.log)


def vcpucount(vm, *flags) -> int:
    return int(virsh(vm.host.uri, "vcpucount", str(vm.uuid), *flags).strip())


def dominfo(vm) -> dict[str, str]:
    text = virsh(vm.host.uri, "dominfo", str(vm.uuid))
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


def inactive_xml(vm) -> str:
    return virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid))


def client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_live_then_next_boot_then_stopped_resize_rename_and_autostart(
    api, admin_user, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    # The demo template: 1 vCPU and 128 MiB by default, live room to 2 vCPUs and 256 MiB, at most 512 MiB.
    vm = make_vm(api, demo_template, "resize-me", vm_worker)
    assert vcpucount(vm, "--maximum", "--live") == 2 and vcpucount(vm, "--current", "--live") == 1
    assert dominfo(vm)["Max memory"] == "262144 KiB"

    # Running, within the live maximum: live and saved.
    job = patch(api, vm, vm_worker, vcpus=2, memory_mib=256)
    assert vcpucount(vm, "--current", "--live") == 2
    assert vcpucount(vm, "--current", "--config") == 2
    live_xml = virsh(vm.host.uri, "dumpxml", str(vm.uuid))
    assert re.search(r"<currentMemory unit='KiB'>262144<", live_xml), live_xml
    assert "changed live" in log_text(job) and job.params["next_boot"] == []
    vm.refresh_from_db()
    assert (vm.vcpus, vm.memory_mib) == (2, 256)

    # Beyond the live maximum: saved for the next boot, and said so.
    job = patch(api, vm, vm_worker, memory_mib=384)
    assert "takes effect at next boot" in log_text(job)
    assert job.params["next_boot"] == ["memory_mib"]
    assert dominfo(vm)["Max memory"] == "262144 KiB"  # the running guest is as it was
    assert re.search(r"<currentMemory unit='KiB'>393216<", inactive_xml(vm))
    page = client_for(admin_user).get(f"/vms/{vm.uuid}/settings/")
    assert "pending for next boot" in page.content.decode()

    # Stopped: the persistent config changes.
    act(api, vm, "force-off", vm_worker)
    patch(api, vm, vm_worker, vcpus=1)
    assert vcpucount(vm, "--current", "--config") == 1
    assert vcpucount(vm, "--maximum", "--config") == 2  # the live room stays
    assert re.search(r"<vcpu placement='static' current='1'>2</vcpu>", inactive_xml(vm))

    # Rename (stopped) and autostart.
    patch(api, vm, vm_worker, name="resized", autostart=True)
    names = virsh(vm.host.uri, "list", "--all", "--name").split()
    assert "resized" in names and "resize-me" not in names
    assert dominfo(vm)["Autostart"] == "enable"
    vm.refresh_from_db()
    assert (vm.name, vm.autostart) == ("resized", True)
    patch(api, vm, vm_worker, autostart=False)
    assert dominfo(vm)["Autostart"] == "disable"

    # Started again, the memory saved for the next boot is what it has.
    act(api, vm, "start", vm_worker)
    assert dominfo(vm)["Max memory"] == "393216 KiB"


def test_bad_input_and_view_share_change_nothing(api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template):
    vm = make_vm(api, demo_template, "stays-put", vm_worker)
    before = inactive_xml(vm)
    jobs = Job.objects.count()
    bad = [
        ({"vcpus": 0}, "vcpus", "at least 1"),
        ({"vcpus": 3}, "vcpus", "The template allows at most 2 vCPUs"),
        ({"memory_mib": 1024}, "memory_mib", "at most 512 MiB"),
        ({"memory_mib": "lots"}, "memory_mib", "whole number"),
        ({"vcpus": 1.5}, "vcpus", "whole number"),
        ({"name": "not ok/"}, "name", "letters"),
        ({"name": "renamed"}, "name", "Stop the VM first"),
        ({"tags": ["fine", "not fine!"]}, "tags", "not a tag"),
        ({"tags": [f"t{i}" for i in range(11)]}, "tags", "at most 10"),
        ({"notes": "x" * 5000}, "notes", "at most"),
        ({"colour": "red"}, "non_field_errors", "Unknown fields"),
        # One bad field refuses the good ones with it.
        ({"notes": "kept?", "vcpus": 9}, "vcpus", "at most"),
    ]
    for data, field, words in bad:
        response = api.patch(f"/api/v1/vms/{vm.pk}/", data, format="json")
        assert response.status_code == 400, (data, response.json())
        assert words in " ".join(response.json()[field]), (data, response.json())
    vm.refresh_from_db()
    assert (vm.vcpus, vm.memory_mib, vm.name, vm.notes) == (1, 128, "stays-put", "")
    assert Job.objects.count() == jobs and inactive_xml(vm) == before

    # Notes and tags: saved at once, no job; the API shows them.
    response = api.patch(f"/api/v1/vms/{vm.pk}/", {"notes": "web tier", "tags": ["web", "prod"]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["notes"] == "web tier" and sorted(response.json()["tags"]) == ["prod", "web"]
    assert Job.objects.count() == jobs
    assert sorted(VMTag.objects.filter(vm=vm).values_list("name", flat=True)) == ["prod", "web"]

    # A view share sees but does not change.
    viewer = make_user("viewer")
    VMShare.objects.create(vm=vm, user=viewer, level="view")
    client = APIClient()
    client.force_authenticate(viewer)
    assert client.get(f"/api/v1/vms/{vm.pk}/").status_code == 200
    response = client.patch(f"/api/v1/vms/{vm.pk}/", {"vcpus": 2, "notes": "mine"}, format="json")
    assert response.status_code == 403, response.json()
    vm.refresh_from_db()
    assert (vm.vcpus, vm.notes, vm.state) == (1, "web tier", VMState.RUNNING)


def test_host_refusal_is_said_and_changes_nothing(api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template):
    """A rename the host refuses (a domain there already has the name, one the dashboard does not know):
    the job fails naming what and where, with the host's words; the VM keeps its name and sizes."""
    demo_template.autostart = True
    demo_template.save()
    vm = make_vm(api, demo_template, "refused", vm_worker)
    assert dominfo(vm)["Autostart"] == "enable"  # new VMs from a template with autostart
    act(api, vm, "force-off", vm_worker)
    foreign = inactive_xml(vm)
    foreign = re.sub(r"<uuid>[^<]+</uuid>", "", foreign).replace("<name>refused</name>", "<name>squatter</name>")
    path = f"/tmp/squatter-{vm.uuid}.xml"
    with open(path, "w") as fh:
        fh.write(foreign)
    virsh(vm.host.uri, "define", path)
    try:
        response = api.patch(f"/api/v1/vms/{vm.pk}/", {"name": "squatter", "vcpus": 2}, format="json")
        assert response.status_code == 202, response.json()
        job = wait_for(Job.objects.get(pk=response.json()["id"]), vm_worker, timeout=90)
        assert job.state == JobState.FAILED
        assert (
            "rename to 'squatter'" in job.error["message"]
            and vm.host.name in job.error["message"]
            or ("squatter" in job.error["message"])
        ), job.error
        assert job.error["host_message"], job.error
        vm.refresh_from_db()
        # The size step ran before the rename and the host has it: the row keeps it; the name is back.
        assert vm.name == "refused" and vm.vcpus == 2
        assert vcpucount(vm, "--current", "--config") == 2
        assert "refused" in virsh(vm.host.uri, "list", "--all", "--name").split()
    finally:
        virsh(vm.host.uri, "undefine", "squatter")
    # The name is free now: the retry renames.
    response = api.post(f"/api/v1/jobs/{job.pk}/retry/")
    assert response.status_code in (200, 202), response.json()
    job = wait_for(Job.objects.get(pk=job.pk), vm_worker, timeout=90)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    assert "squatter" in virsh(vm.host.uri, "list", "--all", "--name").split()
    vm.refresh_from_db()
    assert (vm.name, vm.vcpus) == ("squatter", 2)
