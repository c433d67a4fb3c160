"""A run-once VM in a real browser: asked for with the form's "Run once" box, approved, marked on its
pages, forced off from its page, and then gone: the page turns to its deleted record by itself, the
host has no domain and no disk left.

chromium -> uvicorn -> Celery worker -> sandbox libvirtd; the watcher feeds the state back.
Screenshots go to test-output/browser/ (run-once-*.png).
"""

from __future__ import annotations

import os
import re
import sys

import pytest
from django.contrib.auth import get_user_model

from jobs.choices import JobState
from jobs.models import Job
from jobs.targets import target_for
from portal.models import VMRequest
from tests.browser.conftest import Process, _env
from tests.browser.support import PASSWORD, log_in
from tests.support.virsh import virsh
from tests.support.wait import wait_until
from vms.choices import VMState
from vms.services.run_once import CLEANUP_JOB
from vms.watcher.leases import lease_holder

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

VM_NAME = "browser-once"


@pytest.fixture(scope="module")
def vm_worker(vm_worker_queue, django_db_setup, django_db_blocker, tmp_path_factory, sandbox_fleet):
    """Workers whose own default queue is the test's: the force-off job queues the cleanup job."""
    from tests.support.worker import forget_queue, start_worker, stop_worker

    log = tmp_path_factory.mktemp("vm-worker") / "worker.log"
    process = start_worker(
        vm_worker_queue, log, concurrency=2, extra_env={"CELERY_TASK_DEFAULT_QUEUE": vm_worker_queue}
    )
    yield process
    stop_worker(process)
    forget_queue(vm_worker_queue)


@pytest.fixture
def watcher(transactional_db, tmp_path, vm_worker_queue):
    """The watcher, whose jobs (a run-once VM's cleanup) go to the test worker's queue."""
    process = Process(
        "watcher",
        [sys.executable, "manage.py", "watch_hosts", "--watcher-id", f"browser-once-{os.getpid()}"],
        _env({"CELERY_TASK_DEFAULT_QUEUE": vm_worker_queue}),
        tmp_path,
    )
    yield process
    process.stop()


@pytest.fixture
def leave_no_domain():
    """Whatever a failing run left on the sandbox hosts goes."""
    yield
    from vms.models import VirtualMachine
    from vms.runners.vm import remove_from_host

    for vm in VirtualMachine.objects.select_related("host").filter(host__isnull=False):
        try:
            remove_from_host(vm)
        except Exception as exc:  # report, but let the test's own result stand
            print(f"cleanup of {vm.name} failed: {exc}")


def test_request_a_run_once_vm_force_it_off_and_it_is_gone(
    browser, web_server, watcher, vm_worker, fleet_hosts, demo_template, output_dir, leave_no_domain
):
    User = get_user_model()
    User.objects.create_user("student", "student@example.org", PASSWORD)
    User.objects.create_superuser("teacher", "teacher@example.org", PASSWORD)
    wait_until(lambda: all(lease_holder(h.pk) for h in fleet_hosts), 30, "the watcher taking the hosts", watcher.log)

    def shot(page, name):
        page.screenshot(path=str(output_dir / f"run-once-{name}.png"), full_page=True)

    # 1. The form offers the option, with what it means.
    user = log_in(browser, web_server.url, "student")
    user.goto(f"{web_server.url}/request/")
    user.check(f'input[name="template"][value="{demo_template.pk}"]', force=True)
    user.fill("#id_name", VM_NAME)
    assert "gone when it powers off" in user.locator('[data-field="run_once"]').inner_text()
    user.check("#id_run_once")
    shot(user, "01-request-form")
    user.click("#submit-request")
    user.wait_for_url(re.compile(r".*/requests/\d+/$"))
    req = VMRequest.objects.get(name=VM_NAME)
    assert req.run_once
    assert user.locator("#request-run-once [data-run-once]").is_visible()
    shot(user, "02-request-detail")

    # 2. The admin sees it is run-once in the inbox and approves it.
    admin = log_in(browser, web_server.url, "teacher")
    admin.goto(f"{web_server.url}/requests/inbox/")
    assert admin.locator(f'[data-inbox-request="{req.pk}"] [data-run-once]').is_visible()
    admin.click(f'[data-approve="{req.pk}"]')
    admin.wait_for_url(re.compile(r".*/requests/inbox/$"))
    req.refresh_from_db()
    vm = req.vm
    assert vm is not None and vm.run_once

    # 3. Its page says it is run-once, and offers no Start.
    user.goto(f"{web_server.url}/vms/{vm.uuid}/")
    user.wait_for_function("document.getElementById('vm-state').dataset.state === 'running'", timeout=120_000)
    badge = user.locator("h1 [data-run-once]")
    assert "gone from its host when it powers off" in badge.get_attribute("title")
    assert user.locator('[data-vm-action="start"]').count() == 0
    vm.refresh_from_db()
    assert "Persistent:     no" in virsh(vm.host.uri, "dominfo", str(vm.uuid))
    shot(user, "03-vm-running")

    # 4. Force it off from the page: the page turns to the deleted record by itself; disks removed.
    user.click('[data-vm-actions] button[data-vm-action="force-off"]')
    user.locator("dialog.confirm [data-role=confirm]").click()
    user.wait_for_function("!document.getElementById('vm-gone').hidden", timeout=90_000)
    shot(user, "04-vm-gone")
    wait_until(lambda: _state(vm) == VMState.DELETED, 30, "the VM deleted", watcher.log)
    cleanup = wait_until(
        lambda: Job.objects.filter(kind=CLEANUP_JOB, target=target_for(vm), state=JobState.SUCCEEDED).first(),
        90,
        "the disks removed",
        lambda: vm_worker.log_path.read_text()[-3000:],
    )
    assert cleanup is not None
    assert str(vm.uuid) not in virsh(vm.host.uri, "list", "--all", "--uuid")
    assert str(vm.uuid) not in virsh(vm.host.uri, "vol-list", "default")


def _state(vm) -> str:
    vm.refresh_from_db(fields=["state"])
    return vm.state
