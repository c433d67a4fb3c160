"""Moving VMs between sandbox hosts through the API, a real Celery worker and real libvirt; virsh agrees.

Live: a counter the guest keeps writing to a file once a second goes on across the move with no
number lost and no restart (its uptime grows), the disk holds what it held, virsh shows the domain on
the new host only, and the old host keeps none of its disks. Offline: a stopped VM is defined on the
new host only and boots there with its disk. A job that fails after the copy (a fault injected before
the switch): a stopped VM stays where it was, whole, and the new host keeps nothing; a running VM that
had already moved is recorded where it runs, one copy.
"""

from __future__ import annotations

import re
import uuid

import pytest

from jobs.choices import JobState
from jobs.models import Job
from tests.support.guest import has_disk, on_console
from tests.support.virsh import virsh
from tests.support.vm_api import create_vm as make_vm
from tests.support.vm_api import job_done
from tests.support.worker import forget_queue, start_worker, stop_worker, wait_for
from vms.choices import VMState
from vms.models import VirtualMachine

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MARK = "move-me-42"
WRITE = f"echo {MARK} | dd of=/dev/vda conv=fsync 2>/dev/null; echo W-$((20+1))"
READ_BACK = "echo R:$(dd if=/dev/vda bs=16 count=1 2>/dev/null | tr -d '\\000'):E$((1+1))"
TICKER = "(i=0; while :; do i=$((i+1)); echo $i >> /tmp/ticks; sleep 1; done) & echo S-$((40+2))"
TICKS = "echo T:$(tr '\\n' ' ' < /tmp/ticks):U$(cut -d. -f1 /proc/uptime):E$((1+1))"


def ticks_and_uptime(vm: VirtualMachine) -> tuple[list[int], int]:
    answer = on_console(vm, TICKS, ":E2")
    found = re.search(r"T:([\d ]*):U(\d+):E2", answer)
    assert found, answer
    return [int(n) for n in found.group(1).split()], int(found.group(2))


def domains_on(host) -> str:  # noqa: ANN001
    return virsh(host.uri, "list", "--all", "--uuid")


def test_a_running_vm_moves_live_and_keeps_running(api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template):
    vm = make_vm(api, demo_template, "move-live", vm_worker, host=fleet_hosts[0].pk)
    source, target = fleet_hosts[0], fleet_hosts[1]
    assert has_disk(vm)
    assert "W-21" in on_console(vm, WRITE, "W-21")
    assert "S-42" in on_console(vm, TICKER, "S-42")
    before, uptime_before = ticks_and_uptime(vm)

    job = job_done(api.post(f"/api/v1/vms/{vm.pk}/migrate/", {"host": target.pk}, format="json"), vm_worker, 180)

    vm.refresh_from_db()
    assert (vm.host_id, vm.state, vm.moving_to_id) == (target.pk, VMState.RUNNING, None)
    assert virsh(target.uri, "domstate", str(vm.uuid)).strip() == "running"
    assert str(vm.uuid) not in domains_on(source), "the old host no longer has the domain"
    assert str(vm.uuid) not in virsh(source.uri, "vol-list", "default"), "nor its disk"
    assert virsh(target.uri, "dominfo", str(vm.uuid)).count("Persistent:     yes") == 1
    after, uptime_after = ticks_and_uptime(vm)
    assert after == list(range(1, len(after) + 1)), "the counter never restarted nor skipped"
    assert len(after) > len(before) and uptime_after >= uptime_before, "the guest kept running"
    assert f"R:{MARK}:E2" in on_console(vm, READ_BACK, ":E2"), "its disk came along"
    assert any("Moved live" in entry["message"] for entry in job.log), job.log


def test_a_stopped_vm_moves_offline_and_boots_there(api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template):
    vm = make_vm(api, demo_template, "move-off", vm_worker, host=fleet_hosts[1].pk)
    source, target = fleet_hosts[1], fleet_hosts[2]
    assert has_disk(vm)
    assert "W-21" in on_console(vm, WRITE, "W-21")
    job_done(api.post(f"/api/v1/vms/{vm.pk}/actions/force-off/"), vm_worker)

    job_done(api.post(f"/api/v1/vms/{vm.pk}/migrate/", {"host": target.pk}, format="json"), vm_worker, 180)

    vm.refresh_from_db()
    assert (vm.host_id, vm.state, vm.moving_to_id) == (target.pk, VMState.STOPPED, None)
    assert virsh(target.uri, "domstate", str(vm.uuid)).strip() == "shut off"
    assert str(vm.uuid) not in domains_on(source)
    assert str(vm.uuid) not in virsh(source.uri, "vol-list", "default"), "no disk or temporary copy left behind"
    job_done(api.post(f"/api/v1/vms/{vm.pk}/actions/start/"), vm_worker)
    vm.refresh_from_db()
    assert f"R:{MARK}:E2" in on_console(vm, READ_BACK, ":E2")


@pytest.fixture(scope="module")
def faulty_worker_queue(django_db_setup, django_db_blocker, tmp_path_factory, sandbox_fleet):
    """A worker whose move jobs fail just before their switch step (jobs/faults.py)."""
    queue = f"vms-move-fault-{uuid.uuid4().hex[:8]}"
    process = start_worker(
        queue, tmp_path_factory.mktemp("faulty") / "worker.log", extra_env={"JOBS_FAULTS": "vm.migrate:switch=fail"}
    )
    yield queue, process
    stop_worker(process)
    forget_queue(queue)


def failed_move(api, settings, faulty_worker_queue, vm: VirtualMachine, target) -> Job:  # noqa: ANN001
    queue, process = faulty_worker_queue
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    response = api.post(f"/api/v1/vms/{vm.pk}/migrate/", {"host": target.pk}, format="json")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["id"]), process, timeout=180)
    assert job.state == JobState.FAILED, (job.state, job.log)
    vm.refresh_from_db()
    assert vm.moving_to_id is None
    return job


def test_a_failed_offline_move_leaves_the_vm_whole_and_nothing_on_the_new_host(
    api, settings, vm_worker, jobs_to_test_queue, faulty_worker_queue, fleet_hosts, demo_template
):
    vm = make_vm(api, demo_template, "move-fails", vm_worker, host=fleet_hosts[2].pk)
    source, target = fleet_hosts[2], fleet_hosts[0]
    job_done(api.post(f"/api/v1/vms/{vm.pk}/actions/force-off/"), vm_worker)
    disks_before = [v for v in virsh(source.uri, "vol-list", "default").split() if v.startswith(str(vm.uuid))]
    assert disks_before

    job = failed_move(api, settings, faulty_worker_queue, vm, target)

    assert job.error["step"] == "switch", job.error
    assert (vm.host_id, vm.state) == (source.pk, VMState.STOPPED)
    assert virsh(source.uri, "domstate", str(vm.uuid)).strip() == "shut off"
    assert [v for v in virsh(source.uri, "vol-list", "default").split() if v.startswith(str(vm.uuid))] == disks_before
    assert str(vm.uuid) not in domains_on(target)
    assert str(vm.uuid) not in virsh(target.uri, "vol-list", "default"), "the copied disk was removed"


def test_a_live_move_that_fails_after_the_switch_is_recorded_where_the_vm_runs(
    api, settings, vm_worker, jobs_to_test_queue, faulty_worker_queue, fleet_hosts, demo_template
):
    vm = make_vm(api, demo_template, "move-half", vm_worker, host=fleet_hosts[0].pk)
    source, target = fleet_hosts[0], fleet_hosts[2]

    job = failed_move(api, settings, faulty_worker_queue, vm, target)

    assert any("had moved" in entry["message"] for entry in job.log), job.log
    assert (vm.host_id, vm.state) == (target.pk, VMState.RUNNING)
    assert virsh(target.uri, "domstate", str(vm.uuid)).strip() == "running"
    assert str(vm.uuid) not in domains_on(source), "one copy: the old host has none"
    assert str(vm.uuid) not in virsh(source.uri, "vol-list", "default"), "and none of its disks"
