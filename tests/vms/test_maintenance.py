"""Host maintenance on the sandbox fleet, with a real worker: a host with four VMs (two running, one
stopped, one paused) is emptied of the three that can move, each to another host, in the state it
had; the paused one is named in the job's error and keeps its state where it is. virsh agrees."""

from __future__ import annotations

import pytest

from jobs.choices import JobState
from jobs.models import Job
from tests.support.virsh import virsh
from tests.support.vm_api import create_vm as make_vm
from tests.support.vm_api import job_done
from tests.support.worker import wait_for
from vms.choices import VMState
from vms.models import VirtualMachine

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_maintenance_moves_every_vm_that_can_move_and_names_the_one_that_cannot(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    host = fleet_hosts[2]
    vms = {
        name: make_vm(api, demo_template, name, vm_worker, host=host.pk) for name in ("mt-a", "mt-b", "mt-c", "mt-d")
    }
    job_done(api.post(f"/api/v1/vms/{vms['mt-c'].pk}/actions/force-off/"), vm_worker)
    job_done(api.post(f"/api/v1/vms/{vms['mt-d'].pk}/actions/suspend/"), vm_worker)

    response = api.post(f"/api/v1/hosts/{host.pk}/maintenance/")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["id"]), vm_worker, timeout=300)

    assert job.state == JobState.FAILED, job.log
    assert "mt-d (paused)" in job.error["message"] and "mt-a" not in job.error["message"], job.error
    host.refresh_from_db()
    assert host.maintenance
    expected = {"mt-a": VMState.RUNNING, "mt-b": VMState.RUNNING, "mt-c": VMState.STOPPED}
    for name, state in expected.items():
        vm = VirtualMachine.objects.select_related("host").get(pk=vms[name].pk)
        assert vm.host_id != host.pk and vm.state == state, (name, vm.host, vm.state)
        shown = virsh(vm.host.uri, "domstate", str(vm.uuid)).strip()
        assert shown == ("running" if state == VMState.RUNNING else "shut off")
    children = Job.objects.filter(kind="vm.migrate", params__parent=job.pk)
    assert children.count() == 3 and set(children.values_list("state", flat=True)) == {JobState.SUCCEEDED}
    left = virsh(host.uri, "list", "--all", "--uuid").split()
    # (Only this test's VMs are looked at: another test's leftover may sit on the host.)
    assert [str(vm.uuid) for vm in vms.values() if str(vm.uuid) in left] == [str(vms["mt-d"].uuid)], (
        "only the paused VM stays"
    )
    assert virsh(host.uri, "domstate", str(vms["mt-d"].uuid)).strip() == "paused", "and it was not stopped"

    response = api.delete(f"/api/v1/hosts/{host.pk}/maintenance/")
    assert response.status_code == 200 and response.json()["maintenance"] is False
