"""Disks and media through the API, a real Celery worker, Redis and the sandbox fleet; virsh is the witness."""

from __future__ import annotations

import io
import re

import pycdlib
import pytest
from rest_framework.test import APIClient

from jobs.choices import JobState
from jobs.models import Job
from tests.support.people import make_user
from tests.support.virsh import virsh
from tests.support.vm_api import create_vm as new_vm
from tests.support.worker import wait_for
from tests.vms.test_provision import console_answers
from vms.choices import CopyState, ImageFormat, ImageKind, VMState
from vms.models import Image, ImageCopy, VirtualMachine
from vms.services import images as image_services

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]
GIB = 1024**3


def blklist(vm: VirtualMachine) -> dict[str, str]:
    """{target: source} from `virsh domblklist` (an empty drive shows '-')."""
    out = virsh(vm.host.uri, "domblklist", str(vm.uuid))
    rows = [line.split(None, 1) for line in out.splitlines()[2:] if line.strip()]
    return {r[0]: (r[1].strip() if len(r) > 1 else "-") for r in rows}


def volumes(vm: VirtualMachine, pool: str = "default") -> set[str]:
    out = virsh(vm.host.uri, "vol-list", pool)
    return {line.split()[0] for line in out.splitlines()[2:] if line.strip()}


def capacity(vm: VirtualMachine, target: str) -> int:
    out = virsh(vm.host.uri, "domblkinfo", str(vm.uuid), target)
    return int(re.search(r"Capacity:\s+(\d+)", out).group(1))


def finish(response, worker, ok: bool = True, timeout: float = 90) -> Job:
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["id"]), worker, timeout=timeout)
    if ok:
        assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    return job


def power(api, vm, action, worker) -> None:
    finish(api.post(f"/api/v1/vms/{vm.pk}/actions/{action}/"), worker)


def test_add_grow_detach_and_keep_disks_then_delete_removes_kept(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    vm = new_vm(api, demo_template, "disks-a", vm_worker)
    assert set(blklist(vm)) == {"vda"}
    assert vm.disk_gib == 1

    # Running: a virtio disk attaches live.
    finish(api.post(f"/api/v1/vms/{vm.pk}/disks/", {"size_gib": 1, "bus": "virtio"}, format="json"), vm_worker)
    disk1 = f"{vm.uuid}-disk1.qcow2"
    assert blklist(vm)["vdb"].endswith(disk1)
    assert disk1 in volumes(vm)
    assert "vdb" in virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid))  # and in the saved config
    vm.refresh_from_db()
    assert vm.disk_gib == 2
    body = api.get(f"/api/v1/vms/{vm.pk}/").json()
    rows = {d["target"]: d for d in body["disks"]}
    assert rows["vdb"]["size_gib"] == 1 and rows["vdb"]["bus"] == "virtio" and rows["vdb"]["format"] == "qcow2"
    assert rows["vda"]["size_gib"] == 1
    assert body["cdrom"] is None

    # Grow it live: QEMU's view of the disk grows (blockResize).
    finish(api.post(f"/api/v1/vms/{vm.pk}/disks/vdb/resize/", {"size_gib": 2}, format="json"), vm_worker)
    assert capacity(vm, "vdb") == 2 * GIB
    vm.refresh_from_db()
    assert vm.disk_gib == 3
    assert {d["target"]: d["size_gib"] for d in api.get(f"/api/v1/vms/{vm.pk}/").json()["disks"]}["vdb"] == 2

    # Stopped: a SCSI disk goes into the saved config.
    power(api, vm, "force-off", vm_worker)
    finish(api.post(f"/api/v1/vms/{vm.pk}/disks/", {"size_gib": 1, "bus": "scsi"}, format="json"), vm_worker)
    disk2 = f"{vm.uuid}-disk2.qcow2"
    assert blklist(vm)["sda"].endswith(disk2)
    assert disk2 in volumes(vm)
    # Grow a stopped disk: the volume grows.
    finish(api.post(f"/api/v1/vms/{vm.pk}/disks/sda/resize/", {"size_gib": 3}, format="json"), vm_worker)
    assert capacity(vm, "sda") == 3 * GIB

    # Detach and delete: gone from the domain and from the pool.
    finish(api.delete(f"/api/v1/vms/{vm.pk}/disks/vdb/?delete_volume=true"), vm_worker)
    assert "vdb" not in blklist(vm)
    assert disk1 not in volumes(vm)
    vm.refresh_from_db()
    assert vm.disk_gib == 1 + 3  # vda, and sda at 3 GiB

    # Detach and keep: gone from the domain, the volume stays and is listed on the VM.
    finish(api.delete(f"/api/v1/vms/{vm.pk}/disks/sda/?delete_volume=false"), vm_worker)
    assert "sda" not in blklist(vm)
    assert disk2 in volumes(vm)
    vm.refresh_from_db()
    assert [v["name"] for v in vm.detached_volumes] == [disk2]
    assert vm.disk_gib == 4  # a kept volume still takes room

    # The VM's delete removes the kept volume too.
    finish(api.delete(f"/api/v1/vms/{vm.pk}/"), vm_worker)
    assert disk2 not in volumes(vm)
    assert not {v for v in volumes(vm) if v.startswith(str(vm.uuid))}


def make_iso(name: str, user) -> Image:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3)
    data = b"rescue tools\n"
    iso.add_fp(io.BytesIO(data), len(data), "/README.TXT;1", joliet_path="/README.TXT")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    out.seek(0)
    out.name = f"{name}.iso"
    image, _jobs = image_services.create_image(
        name=name, kind=ImageKind.ISO, format=ImageFormat.ISO, file=out, user=user
    )
    return image


def test_cdrom_add_insert_copies_first_then_eject(
    api, admin_user, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    vm = new_vm(api, demo_template, "disks-cd", vm_worker)
    iso = make_iso("rescue-cd", admin_user)
    image_services.set_published(iso, True, admin_user)
    assert not ImageCopy.objects.filter(image=iso, host=vm.host, state=CopyState.READY).exists()

    # No drive yet: one is added to the stopped VM.
    response = api.post(f"/api/v1/vms/{vm.pk}/cdrom/", {"image": iso.pk}, format="json")
    assert response.status_code == 400 and "image" in response.json()
    power(api, vm, "force-off", vm_worker)
    from vms.services import disks as disk_services

    finish_job = disk_services.add_cdrom(admin_user, VirtualMachine.objects.get(pk=vm.pk))
    job = wait_for(finish_job, vm_worker, timeout=60)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    assert blklist(vm) == {"vda": blklist(vm)["vda"], "hda": "-"}
    power(api, vm, "start", vm_worker)

    # Insert while running: the ISO is not on the host, so the job copies it first.
    job = finish(api.post(f"/api/v1/vms/{vm.pk}/cdrom/", {"image": iso.pk}, format="json"), vm_worker)
    assert {s["name"]: s["state"] for s in job.steps} == {"upload": "done", "check": "done", "insert": "done"}
    copy = ImageCopy.objects.get(image=iso, host=vm.host)
    assert copy.state == CopyState.READY and copy.progress == 100
    assert blklist(vm)["hda"].endswith(copy.volume)
    assert copy.volume in volumes(vm)
    assert api.get(f"/api/v1/vms/{vm.pk}/").json()["cdrom"] == {"target": "hda", "image": iso.pk}
    assert copy.volume in virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid))  # kept for the next boot

    # Eject, live and in the saved config.
    finish(api.delete(f"/api/v1/vms/{vm.pk}/cdrom/"), vm_worker)
    assert blklist(vm)["hda"] == "-"
    assert copy.volume not in virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid))
    assert api.get(f"/api/v1/vms/{vm.pk}/").json()["cdrom"] == {"target": "hda", "image": None}

    # A second insert finds the ISO on the host: no copy.
    job = finish(api.post(f"/api/v1/vms/{vm.pk}/cdrom/", {"image": iso.pk}, format="json"), vm_worker)
    assert {s["name"]: s["state"] for s in job.steps} == {"upload": "skipped", "check": "skipped", "insert": "done"}


def test_bad_input_is_refused_and_changes_nothing(
    api, admin_user, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    vm = new_vm(api, demo_template, "disks-bad", vm_worker)
    owner = make_user("disk-owner")
    VirtualMachine.objects.filter(pk=vm.pk).update(owner=owner)
    user_api = APIClient()
    user_api.force_authenticate(owner)
    hidden = make_iso("hidden-cd", admin_user)  # not published
    before_xml = virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid))
    jobs_before = Job.objects.count()
    url = f"/api/v1/vms/{vm.pk}"
    cases = [
        (user_api.post(f"{url}/disks/", {"size_gib": 0, "bus": "virtio"}, format="json"), "size_gib"),
        (user_api.post(f"{url}/disks/", {"size_gib": "two", "bus": "virtio"}, format="json"), "size_gib"),
        (user_api.post(f"{url}/disks/", {"size_gib": 1.5, "bus": "virtio"}, format="json"), "size_gib"),
        (user_api.post(f"{url}/disks/", {"size_gib": 99, "bus": "virtio"}, format="json"), "size_gib"),
        (user_api.post(f"{url}/disks/", {"size_gib": 1, "bus": "floppy"}, format="json"), "bus"),
        (user_api.post(f"{url}/disks/vda/resize/", {"size_gib": 1}, format="json"), "size_gib"),  # shrink/same
        (user_api.post(f"{url}/disks/vdq/resize/", {"size_gib": 2}, format="json"), "target"),
        (user_api.delete(f"{url}/disks/vda/?delete_volume=true"), "target"),  # the system disk
        (user_api.post(f"{url}/cdrom/", {"image": hidden.pk}, format="json"), "image"),
        (user_api.delete(f"{url}/cdrom/"), "cdrom"),
    ]
    for response, field in cases:
        assert response.status_code == 400, response.json()
        assert field in response.json(), response.json()
    assert Job.objects.count() == jobs_before
    assert virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid)) == before_xml
    vm.refresh_from_db()
    assert vm.disk_gib == 1
    # A view share sees, does not change.
    viewer = make_user("disk-viewer")
    from vms.models import VMShare

    VMShare.objects.create(vm=vm, user=viewer, level="view", created_by=owner)
    viewer_api = APIClient()
    viewer_api.force_authenticate(viewer)
    assert viewer_api.post(f"{url}/disks/", {"size_gib": 1, "bus": "virtio"}, format="json").status_code == 403
    assert Job.objects.count() == jobs_before


def test_a_live_attach_libvirt_refuses_leaves_the_vm_as_it_was(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    vm = new_vm(api, demo_template, "disks-sata", vm_worker)
    before = volumes(vm)
    # SATA (AHCI) disks cannot be plugged into a running QEMU: libvirt refuses.
    job = finish(
        api.post(f"/api/v1/vms/{vm.pk}/disks/", {"size_gib": 1, "bus": "sata"}, format="json"), vm_worker, ok=False
    )
    assert job.state == JobState.FAILED
    # A sentence naming what failed and where, with the host's own message.
    assert job.error["message"].startswith("Could not attach disk sda (sata) to VM 'disks-sata' on host"), job.error
    assert "sata controller" in job.error["host_message"], job.error
    assert set(blklist(vm)) == {"vda"}
    assert volumes(vm) == before, "the half-made volume is removed"
    vm.refresh_from_db()
    assert vm.disk_gib == 1 and vm.state == VMState.RUNNING


def test_detach_from_a_running_vm(api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template):
    vm = new_vm(api, demo_template, "disks-live", vm_worker)
    # A live unplug needs the guest's cooperation (ACPI): wait until it has booted to its shell.
    assert "42-demo-guest" in console_answers(vm)
    finish(api.post(f"/api/v1/vms/{vm.pk}/disks/", {"size_gib": 1, "bus": "virtio"}, format="json"), vm_worker)
    assert "vdb" in blklist(vm)
    job = finish(api.delete(f"/api/v1/vms/{vm.pk}/disks/vdb/?delete_volume=true"), vm_worker, timeout=120)
    assert "vdb" not in blklist(vm)  # the live domain
    assert "vdb" not in virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid))  # and the saved config
    assert f"{vm.uuid}-disk1.qcow2" not in volumes(vm)
    assert job.state == JobState.SUCCEEDED
    # SCSI hot-plugs too (libvirt adds the controller).
    finish(api.post(f"/api/v1/vms/{vm.pk}/disks/", {"size_gib": 1, "bus": "scsi"}, format="json"), vm_worker)
    assert blklist(vm)["sda"].endswith(f"{vm.uuid}-disk1.qcow2")
