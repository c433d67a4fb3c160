"""Snapshots through the API, a real Celery worker and the sandbox fleet; virsh on the host agrees.

The demo guest runs from its initramfs (its root is in RAM), so it never writes its disk by itself.
The honest "file the guest wrote" is a marker the guest writes with `dd` straight onto its qcow2
disk (/dev/vda) from the serial console after the snapshot: a revert must bring back the disk
without it (and the guest's memory without the /tmp file it wrote at the same time).
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from jobs.models import Job
from jobs.targets import target_for
from tests.support.guest import has_disk, on_console
from tests.support.virsh import virsh
from tests.support.vm_api import create_vm as make_vm
from tests.support.vm_api import job_done as finished
from vms.choices import DiskFormat, ShareLevel, VMState
from vms.models import VirtualMachine, VMShare, VMSnapshot

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def host_snapshots(vm: VirtualMachine) -> set[str]:
    return set(virsh(vm.host.uri, "snapshot-list", str(vm.uuid), "--name").split())


def host_tree(vm: VirtualMachine) -> dict[str, str]:
    """{snapshot: parent ("" for a root)} as virsh snapshot-info tells it."""
    tree = {}
    for name in host_snapshots(vm):
        info = virsh(vm.host.uri, "snapshot-info", str(vm.uuid), name)
        parent = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Parent:"))
        tree[name] = "" if parent == "-" else parent
    return tree


def domstate(vm: VirtualMachine) -> str:
    return virsh(vm.host.uri, "domstate", str(vm.uuid)).strip()


# What the guest finds: R:<first 16 bytes of its disk, NULs dropped>:<whether /tmp/after exists>:E2
# (the end mark is computed, so the echo of the typed command never matches it).
READ_BACK = "echo R:$(dd if=/dev/vda bs=16 count=1 2>/dev/null | tr -d '\\000'):$(ls /tmp/after 2>/dev/null):E$((1+1))"
END = ":E2"
WRITE = "echo after-snap-42 | dd of=/dev/vda conv=fsync 2>/dev/null; touch /tmp/after; echo W-$((20+1))"


def test_take_revert_delete_running_and_stopped_snapshots(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    vm = make_vm(api, demo_template, "snap-demo", vm_worker)
    assert has_disk(vm), "the guest sees its disk as /dev/vda"
    assert "R:::E2" in on_console(vm, READ_BACK, END)  # a blank disk, no /tmp/after

    # A running VM: the snapshot keeps its memory.
    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "clean", "description": "blank disk"}), vm_worker)
    assert host_snapshots(vm) == {"clean"}
    assert "running" in virsh(vm.host.uri, "snapshot-info", str(vm.uuid), "clean")
    (listed,) = api.get(f"/api/v1/vms/{vm.pk}/snapshots/").json()
    assert listed | {"created_at": None} == {
        "name": "clean",
        "description": "blank disk",
        "parent": "",
        "state": "running",
        "with_memory": True,
        "current": True,
        "created_at": None,
    }

    # The guest writes its disk (and a file in RAM) after the snapshot; it reads them back.
    on_console(vm, WRITE, "W-21")
    assert "R:after-snap-42:/tmp/after:E2" in on_console(vm, READ_BACK, END)

    # Revert: the running snapshot comes back running, and the disk and memory lost the writes.
    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/clean/revert/"), vm_worker)
    assert domstate(vm) == "running"
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert "R:::E2" in on_console(vm, READ_BACK, END)

    # A stopped VM: a snapshot of the disks only, a child of the current one.
    finished(api.post(f"/api/v1/vms/{vm.pk}/actions/force-off/"), vm_worker)
    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "off"}), vm_worker)
    assert host_tree(vm) == {"clean": "", "off": "clean"}
    off = VMSnapshot.objects.get(vm=vm, name="off")
    assert (off.state, off.with_memory, off.parent, off.current) == ("shutoff", False, "clean", True)
    assert not VMSnapshot.objects.get(vm=vm, name="clean").current

    # Reverting a running VM to the stopped snapshot stops it; reverting to the running one starts it.
    finished(api.post(f"/api/v1/vms/{vm.pk}/actions/start/"), vm_worker)
    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/off/revert/"), vm_worker)
    assert domstate(vm) == "shut off"
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/clean/revert/"), vm_worker)
    assert domstate(vm) == "running"
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert VMSnapshot.objects.get(vm=vm, name="clean").current

    # Delete one: its child moves up. Then a subtree with its children.
    finished(api.delete(f"/api/v1/vms/{vm.pk}/snapshots/clean/"), vm_worker)
    assert host_tree(vm) == {"off": ""}
    assert list(VMSnapshot.objects.filter(vm=vm).values_list("name", "parent")) == [("off", "")]
    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "a"}), vm_worker)
    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "b"}), vm_worker)
    # (the current snapshot was deleted, so "a" starts a new root)
    assert host_tree(vm) == {"off": "", "a": "", "b": "a"}
    finished(api.delete(f"/api/v1/vms/{vm.pk}/snapshots/a/?children=true"), vm_worker)
    assert host_snapshots(vm) == {"off"}
    assert set(VMSnapshot.objects.filter(vm=vm).values_list("name", flat=True)) == {"off"}


def jobs_of(vm: VirtualMachine) -> int:
    return Job.objects.filter(target=target_for(vm)).count()


def test_bad_input_is_refused_and_changes_nothing(api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template):
    vm = make_vm(api, demo_template, "snap-bad", vm_worker)
    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "first"}), vm_worker)
    before = jobs_of(vm)

    refused = {
        "first": "already has a snapshot named 'first'",
        "-dash": "letters, digits",
        "a b": "letters, digits",
        "x" * 64: "letters, digits",
    }
    for name, reason in refused.items():
        response = api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": name})
        assert response.status_code == 400, (name, response.json())
        assert reason in str(response.json()), response.json()

    demo_template.snapshot_limit = 1
    demo_template.save()
    response = api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "second"})
    assert response.status_code == 400
    assert "limit of 1 snapshots" in str(response.json())

    assert api.post(f"/api/v1/vms/{vm.pk}/snapshots/nope/revert/").status_code == 404
    assert api.delete(f"/api/v1/vms/{vm.pk}/snapshots/nope/").status_code == 404
    assert jobs_of(vm) == before
    assert host_snapshots(vm) == {"first"}
    assert list(VMSnapshot.objects.filter(vm=vm).values_list("name", flat=True)) == ["first"]


def test_a_vm_with_a_raw_disk_is_told_why_it_cannot_snapshot(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    demo_template.pk = None
    demo_template.name = "Demo raw disk"
    demo_template.disk_format = DiskFormat.RAW
    demo_template.save()
    vm = make_vm(api, demo_template, "snap-raw", vm_worker)
    assert "raw" in virsh(vm.host.uri, "dumpxml", str(vm.uuid))
    before = jobs_of(vm)

    response = api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "s"})
    assert response.status_code == 400
    message = str(response.json())
    assert "vda (raw) is not qcow2" in message and "'Demo raw disk' to qcow2" in message
    assert jobs_of(vm) == before
    assert host_snapshots(vm) == set()
    assert not VMSnapshot.objects.filter(vm=vm).exists()


def test_a_vm_with_a_seed_cdrom_still_snapshots_with_memory(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    """The cloud-init seed is a raw ISO on a read-only CD-ROM: it is left out of the snapshot, not refused."""
    demo_template.pk = None
    demo_template.name = "Demo with seed"
    demo_template.cloud_init = True
    demo_template.save()
    vm = make_vm(api, demo_template, "snap-seed", vm_worker)
    assert "device='cdrom'" in virsh(vm.host.uri, "dumpxml", str(vm.uuid))

    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "s"}), vm_worker)
    assert host_snapshots(vm) == {"s"}
    assert VMSnapshot.objects.get(vm=vm, name="s").with_memory


def test_a_view_share_sees_snapshots_but_changes_none(api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template):
    from tests.support.people import make_user

    vm = make_vm(api, demo_template, "snap-shared", vm_worker)
    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "s1"}), vm_worker)
    viewer = make_user("viewer")
    VMShare.objects.create(vm=vm, user=viewer, level=ShareLevel.VIEW)
    client = APIClient()
    client.force_authenticate(viewer)
    before = jobs_of(vm)

    assert [s["name"] for s in client.get(f"/api/v1/vms/{vm.pk}/snapshots/").json()] == ["s1"]
    assert client.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "s2"}).status_code == 403
    assert client.post(f"/api/v1/vms/{vm.pk}/snapshots/s1/revert/").status_code == 403
    assert client.delete(f"/api/v1/vms/{vm.pk}/snapshots/s1/").status_code == 403
    assert jobs_of(vm) == before
    assert host_snapshots(vm) == {"s1"}


def test_deleting_the_vm_removes_its_snapshots(api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template):
    vm = make_vm(api, demo_template, "snap-gone", vm_worker)
    finished(api.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "s1"}), vm_worker)
    disk = f"{vm.uuid}-disk0.qcow2"
    assert disk in virsh(vm.host.uri, "vol-list", "default")

    finished(api.delete(f"/api/v1/vms/{vm.pk}/"), vm_worker)
    # The domain and its snapshot metadata are gone, and the volume that held the snapshot data too.
    assert str(vm.uuid) not in virsh(vm.host.uri, "list", "--all", "--uuid")
    assert disk not in virsh(vm.host.uri, "vol-list", "default")
    assert not VMSnapshot.objects.filter(vm=vm).exists()
