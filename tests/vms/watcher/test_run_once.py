"""Run-once VMs (the seed's `virsh create`) on the sandbox fleet, with a real worker and a real watcher.

A run-once VM is created transient: virsh says it is not persistent. Powered off from its own serial
console, it is gone from its host; the watcher marks it deleted and a job removes its disk. A
shutdown or a force-off through the API ends the same way, without the watcher's help.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from audit.models import AuditEntry
from jobs.choices import JobState
from jobs.models import Job
from jobs.targets import target_for
from tests.support.virsh import virsh, virsh_args
from tests.support.worker import wait_for
from vms.choices import VMState
from vms.hypervisor.connection import open_connection
from vms.hypervisor.console import ConsoleSession
from vms.models import Host, MACAddress, VirtualMachine
from vms.runners.vm import remove_from_host
from vms.services.run_once import CLEANUP_JOB
from vms.watcher.observed import console_scrollback

from .live import ConsoleReader, ws

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def vm_worker(vm_worker_queue, django_db_setup, django_db_blocker, tmp_path_factory, sandbox_fleet):
    """Real Celery workers (tests/vms/conftest.py), whose own default queue is this test's: a power-off
    job queues the cleanup job from inside the worker."""
    from tests.support.worker import forget_queue, start_worker, stop_worker

    log = tmp_path_factory.mktemp("vm-worker") / "worker.log"
    process = start_worker(
        vm_worker_queue, log, concurrency=2, extra_env={"CELERY_TASK_DEFAULT_QUEUE": vm_worker_queue}
    )
    yield process
    stop_worker(process)
    forget_queue(vm_worker_queue)


@pytest.fixture
def checked_hosts(transactional_db, sandbox_fleet):
    """The sandbox hosts registered and checked (placement needs their facts)."""
    from sandbox import bootstrap

    hosts = bootstrap.register_sandbox_hosts(sandbox_fleet.hosts(3))
    bootstrap.check_all(hosts)
    for host in hosts:
        host.refresh_from_db()
        assert host.online, host.last_error
    return hosts


@pytest.fixture
def cleanup_vms():
    yield
    for vm in VirtualMachine.objects.select_related("host").filter(host__isnull=False):
        try:
            remove_from_host(vm)
        except Exception as exc:  # report, but let the test's own result stand
            print(f"cleanup of {vm.name} failed: {exc}")


@pytest.fixture
def watcher_jobs_to_worker(monkeypatch, vm_worker_queue):
    """The watcher queues the cleanup job: it must land on this test's worker queue."""
    monkeypatch.setenv("CELERY_TASK_DEFAULT_QUEUE", vm_worker_queue)


def create_run_once(api, template, name: str, worker) -> VirtualMachine:
    response = api.post("/api/v1/vms/", {"template": template.pk, "name": name, "run_once": True}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["run_once"] is True
    job = wait_for(Job.objects.get(pk=response.json()["job"]["id"]), worker, timeout=120)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    vm = VirtualMachine.objects.select_related("host").get(pk=response.json()["id"])
    assert vm.run_once and vm.state == VMState.RUNNING
    # The MACs libvirt gave its NICs when it created the domain are registered in the fleet.
    listed = virsh(vm.host.uri, "domiflist", str(vm.uuid))
    macs = {word for line in listed.splitlines() for word in line.split() if word.count(":") == 5}
    assert macs and macs == set(MACAddress.objects.filter(vm=vm).values_list("mac", flat=True)), listed
    return vm


def dominfo(vm: VirtualMachine) -> dict[str, str]:
    lines = virsh(vm.host.uri, "dominfo", str(vm.uuid)).splitlines()
    return {key.strip(): value.strip() for key, _sep, value in (line.partition(":") for line in lines) if _sep}


def on_host(vm: VirtualMachine) -> bool:
    """Whether the host still has a domain with the VM's UUID (virsh, not the project's code)."""
    found = subprocess.run(virsh_args(vm.host.uri, "domuuid", str(vm.uuid)), capture_output=True, text=True)
    return found.returncode == 0


def volumes_of(vm: VirtualMachine) -> list[str]:
    listing = virsh(vm.host.uri, "vol-list", "default")
    return [line.split()[0] for line in listing.splitlines() if str(vm.uuid) in line]


def assert_transient_and_running(vm: VirtualMachine) -> None:
    listing = virsh(vm.host.uri, "list", "--all")
    row = next((line for line in listing.splitlines() if vm.name in line.split()), "")
    assert "running" in row, listing
    info = dominfo(vm)
    assert info["Persistent"] == "no", info
    assert info["State"] == "running", info
    assert volumes_of(vm), "the run-once VM has its disk like any other VM"


def wait_until(predicate, timeout: float, what: str, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s\n{log()}")


def cleanup_job(vm: VirtualMachine, worker) -> Job:
    job = wait_until(lambda: Job.objects.filter(kind=CLEANUP_JOB, target=target_for(vm)).first(), 30, "cleanup job")
    job = wait_for(job, worker, timeout=60)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    return job


async def poweroff_from_console(vm_uuid: str, cookie: bytes) -> str:
    """Type `poweroff` on the VM's serial console through its console socket (the watcher holds the stream)."""
    reader = ConsoleReader(await ws(f"/ws/vms/{vm_uuid}/console/", cookie))
    try:
        # A fresh prompt shows the shell is up (its boot may be over before the watcher held the console).
        await reader.communicator.send_to(text_data=json.dumps({"type": "console.input", "data": "\n"}))
        await reader.read_until("root@demo-guest", timeout=60)
        await reader.communicator.send_to(text_data=json.dumps({"type": "console.input", "data": "poweroff\n"}))
        return reader.text
    finally:
        await reader.communicator.disconnect()


def test_run_once_vm_powered_off_from_its_console_is_deleted_and_its_disk_removed(
    api, admin_user, vm_worker, vm_worker_queue, jobs_to_test_queue, watcher_jobs_to_worker, checked_hosts,
    demo_template, start_watcher, cleanup_vms,
):  # fmt: skip
    vm = create_run_once(api, demo_template, "once-console", vm_worker)
    assert_transient_and_running(vm)
    disks = volumes_of(vm)

    watcher = start_watcher("run-once")
    wait_until(lambda: Host.objects.get(pk=vm.host_id).online, 20, "host watched", watcher.log)
    # Keys typed before the watcher holds the console stream would go nowhere.
    wait_until(lambda: console_scrollback(vm.uuid)[2], 30, "the watcher holding the console", watcher.log)
    browser = Client()
    browser.force_login(admin_user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    typed = async_to_sync(poweroff_from_console)(str(vm.uuid), cookie)
    assert "root@demo-guest" in typed

    wait_until(lambda: not on_host(vm), 60, "the domain gone from the host", watcher.log)
    wait_until(
        lambda: VirtualMachine.objects.get(pk=vm.pk).state == VMState.DELETED, 30, "VM marked deleted", watcher.log
    )
    job = cleanup_job(vm, vm_worker)
    assert job.requested_by is None  # the guest powered itself off: nobody asked
    assert not volumes_of(vm), virsh(vm.host.uri, "vol-list", "default")
    assert all(f"Removed disk {name}." in json.dumps(job.log) for name in disks), job.log
    assert AuditEntry.objects.filter(action="vm.run-once-gone", object_id=str(vm.pk)).exists()
    # Exactly one cleanup, however many times the watcher saw it gone (events and resyncs).
    assert Job.objects.filter(kind=CLEANUP_JOB, target=target_for(vm)).count() == 1


def test_run_once_vm_reboots_then_force_off_and_shutdown_end_in_deleted(
    api, vm_worker, jobs_to_test_queue, checked_hosts, demo_template, cleanup_vms
):
    forced = create_run_once(api, demo_template, "once-forced", vm_worker)
    polite = create_run_once(api, demo_template, "once-polite", vm_worker)
    assert_transient_and_running(forced)

    # Reboot works as for any VM: still running, still transient.
    job = act(api, forced, "reboot", vm_worker)
    assert dominfo(forced)["State"] == "running" and dominfo(forced)["Persistent"] == "no"

    # Start is refused for a run-once VM, with the reason.
    refused = api.post(f"/api/v1/vms/{forced.pk}/actions/start/")
    assert refused.status_code == 400
    assert "run-once VM cannot be started" in json.dumps(refused.json())

    # No watcher runs: the force-off job itself records the end and queues the cleanup.
    forced_disks = volumes_of(forced)
    job = act(api, forced, "force-off", vm_worker)
    assert not on_host(forced)
    forced.refresh_from_db()
    assert forced.state == VMState.DELETED
    cleanup = cleanup_job(forced, vm_worker)
    assert cleanup.requested_by_id == job.requested_by_id
    assert forced_disks and not volumes_of(forced)

    # A shutdown (ACPI: the demo guest's acpid powers it off) ends the same way.
    wait_for_shell(polite)
    act(api, polite, "shutdown", vm_worker)
    assert not on_host(polite)
    polite.refresh_from_db()
    assert polite.state == VMState.DELETED
    cleanup_job(polite, vm_worker)
    assert not volumes_of(polite)
    # Deleted: the page keeps its record, nothing more can be asked of it.
    assert api.post(f"/api/v1/vms/{polite.pk}/actions/start/").status_code in (400, 404)


def test_deleting_a_running_run_once_vm_removes_it_like_any_vm(
    api, vm_worker, jobs_to_test_queue, checked_hosts, demo_template, cleanup_vms
):
    vm = create_run_once(api, demo_template, "once-deleted", vm_worker)
    assert volumes_of(vm)
    response = api.delete(f"/api/v1/vms/{vm.pk}/")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["id"]), vm_worker, timeout=120)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED and not on_host(vm) and not volumes_of(vm)
    # The delete job removed the disks itself: no cleanup job is queued on top of it.
    assert not Job.objects.filter(kind=CLEANUP_JOB, target=target_for(vm)).exists()


def act(api, vm, action, worker) -> Job:
    response = api.post(f"/api/v1/vms/{vm.pk}/actions/{action}/")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["id"]), worker, timeout=120)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    return job


def wait_for_shell(vm: VirtualMachine) -> None:
    """Until the guest's shell answers on its serial console (no watcher holds it in this test):
    an ACPI button pressed before acpid runs is lost."""
    conn = open_connection(vm.host.uri)
    try:
        console = ConsoleSession(conn, conn.lookupByUUIDString(str(vm.uuid)))
        try:
            console.write("\n")
            console.read_until("root@demo-guest", timeout=60)
        finally:
            console.close()
    finally:
        conn.close()
