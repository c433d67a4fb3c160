"""Clones through the API, a real Celery worker and the sandbox fleet; virsh on the hosts agrees.

The demo guest's root is in RAM, so "what the source's disk held" is a marker written with dd straight
onto its disk (/dev/vda) from the serial console, as in test_snapshots. Each clone boots and reads the
marker back from its own disk; its UUID and MAC differ from the source's; the copy to another host
leaves nothing of itself on the source's host; the source stays stopped and unchanged.
"""

from __future__ import annotations

import re

import pytest

from jobs.models import Job
from tests.support.guest import has_disk, on_console
from tests.support.virsh import virsh
from tests.support.vm_api import create_vm as make_vm
from tests.support.vm_api import job_done
from tests.support.worker import wait_for
from vms.choices import VMState
from vms.models import VirtualMachine

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MARK = "clone-me-77"
WRITE = f"echo {MARK} | dd of=/dev/vda conv=fsync 2>/dev/null; echo W-$((20+1))"
READ_BACK = "echo R:$(dd if=/dev/vda bs=16 count=1 2>/dev/null | tr -d '\\000'):E$((1+1))"


def macs(vm: VirtualMachine) -> set[str]:
    rows = virsh(vm.host.uri, "domiflist", str(vm.uuid)).lower().split()
    return {word for word in rows if word.count(":") == 5}


def uptime_of(vm: VirtualMachine) -> int:
    found = re.search(r"U(\d+):E2", on_console(vm, "echo U$(cut -d. -f1 /proc/uptime):E$((1+1))", ":E2"))
    assert found
    return int(found.group(1))


def cloned(api, source: VirtualMachine, worker, **data) -> VirtualMachine:
    response = api.post(f"/api/v1/vms/{source.pk}/clone/", data, format="json")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["job"]["id"]), worker, timeout=240)
    assert job.state == "succeeded", (job.error, job.log)
    return VirtualMachine.objects.select_related("host").get(pk=response.json()["vm"])


def test_clones_on_the_same_host_and_another_boot_with_the_sources_disk_and_own_identity(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    source = make_vm(api, demo_template, "clone-src", vm_worker, host=fleet_hosts[0].pk)
    assert has_disk(source), "the guest sees its disk as /dev/vda"
    assert "W-21" in on_console(source, WRITE, "W-21")
    job_done(api.post(f"/api/v1/vms/{source.pk}/actions/force-off/"), vm_worker)
    source.refresh_from_db()
    assert source.state == VMState.STOPPED
    saved = source.domain_xml

    here = cloned(api, source, vm_worker, name="clone-here", host=source.host.pk)
    there = cloned(api, source, vm_worker, name="clone-there", host=fleet_hosts[1].pk)

    assert here.host == source.host and there.host == fleet_hosts[1]
    for clone in (here, there):
        assert clone.state == VMState.RUNNING and clone.owner.username == "root-admin"
        assert virsh(clone.host.uri, "domstate", str(clone.uuid)).strip() == "running"
        assert f"R:{MARK}:E2" in on_console(clone, READ_BACK, ":E2"), "the clone's disk holds the source's"
        assert clone.uuid != source.uuid and not macs(clone) & macs(source), (macs(clone), macs(source))
        assert macs(clone), "the clone has its NIC, with a MAC of its own"
    assert str(there.uuid) not in virsh(source.host.uri, "list", "--all", "--uuid")
    assert str(there.uuid) not in virsh(source.host.uri, "vol-list", "default"), "no copy left on the source's host"
    source.refresh_from_db()
    assert source.state == VMState.STOPPED and source.domain_xml == saved
    assert virsh(source.host.uri, "domstate", str(source.uuid)).strip() == "shut off"


def test_a_running_vm_is_cloned_to_another_host_and_keeps_running(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    source = make_vm(api, demo_template, "clone-live", vm_worker, host=fleet_hosts[2].pk)
    assert has_disk(source)
    assert "W-21" in on_console(source, WRITE, "W-21")
    uptime = uptime_of(source)

    copy = cloned(api, source, vm_worker, name="clone-of-live", host=fleet_hosts[0].pk)

    job = Job.objects.filter(kind="vm.clone").latest("pk")
    assert any("at one moment" in entry["message"] for entry in job.log), job.log
    assert virsh(copy.host.uri, "domstate", str(copy.uuid)).strip() == "running"
    assert f"R:{MARK}:E2" in on_console(copy, READ_BACK, ":E2"), "the copy holds what the disk held"
    source.refresh_from_db()
    assert source.state == VMState.RUNNING
    assert virsh(source.host.uri, "domstate", str(source.uuid)).strip() == "running"
    assert uptime_of(source) >= uptime, "the source was not restarted"
    assert str(copy.uuid) not in virsh(source.host.uri, "vol-list", "default"), "no copy left on the source's host"
