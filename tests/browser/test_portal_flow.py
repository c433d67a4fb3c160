"""The self-service flow in a real browser: request, approve, watch it boot, use the console, delete.

chromium -> daphne (pages + websockets) -> Celery worker -> sandbox libvirtd hosts; the watcher feeds
state and the serial console back. Screenshots of each step go to test-output/browser/.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEntry
from portal.choices import RequestState
from portal.models import VMRequest
from sandbox.demo_guest import BANNER
from tests.browser.support import PASSWORD, log_in
from tests.support.virsh import virsh
from tests.support.wait import wait_until
from vms.choices import VMState
from vms.watcher.leases import lease_holder

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

VM_NAME = "browser-demo"


def process_logs(*processes):
    """What the test's processes wrote, for a failure message."""
    return lambda: "\n".join(f"--- {p.name}:\n{p.log()}" for p in processes)


def test_request_approve_boot_console_delete(
    browser, web_server, watcher, vm_worker, fleet_hosts, demo_template, output_dir
):
    User = get_user_model()
    User.objects.create_user("student", "student@example.org", PASSWORD)
    User.objects.create_superuser("teacher", "teacher@example.org", PASSWORD)
    logs = (web_server, watcher)
    # The watcher must hold the hosts before the VM boots, or the banner is printed before it listens.
    wait_until(
        lambda: all(lease_holder(h.pk) for h in fleet_hosts), 30, "the watcher taking the hosts", process_logs(*logs)
    )

    def shot(page, name):
        page.screenshot(path=str(output_dir / f"{name}.png"), full_page=True)

    # 1. The user asks for the demo VM.
    user = log_in(browser, web_server.url, "student")
    user.goto(f"{web_server.url}/request/")
    user.check(f'input[name="template"][value="{demo_template.pk}"]', force=True)
    user.fill("#id_name", VM_NAME)
    user.fill("#id_note", "For the browser test.")
    shot(user, "01-request-form")
    user.click("#submit-request")
    user.wait_for_url(re.compile(r".*/requests/\d+/$"))
    req = VMRequest.objects.get(name=VM_NAME)
    assert req.state == RequestState.PENDING
    assert user.locator("#request-state").get_attribute("data-state") == "pending"
    user.evaluate("window.__noReload = true")
    user.wait_for_function("document.querySelector('[data-live-indicator]').classList.contains('on')")
    shot(user, "02-request-pending")

    # 2. The admin approves it from the inbox.
    admin = log_in(browser, web_server.url, "teacher")
    admin.goto(f"{web_server.url}/requests/inbox/")
    shot(admin, "03-admin-inbox")
    admin.click(f'[data-approve="{req.pk}"]')
    admin.wait_for_url(re.compile(r".*/requests/inbox/$"))
    assert "Approved" in admin.locator(".messages").inner_text()
    req.refresh_from_db()
    assert req.state == RequestState.PROVISIONED and req.vm is not None
    vm = req.vm

    # 3. The user's page follows: approved, VM created, running; no reload.
    user.wait_for_function("document.getElementById('request-vm-state').dataset.state === 'running'", timeout=120_000)
    assert user.evaluate("window.__noReload === true"), "the page reloaded"
    assert "done" in user.locator('#request-flow li[data-step="running"]').get_attribute("class")
    shot(user, "04-request-running")

    # 4. The VM page, its Console tab: the guest's banner; a typed command answers.
    user.click("#request-vm-link")
    user.wait_for_url(re.compile(rf".*/vms/{vm.uuid}/$"))
    assert user.locator("#vm-state").get_attribute("data-state") == "running"
    user.click(f'nav.tabs a[href="/vms/{vm.uuid}/console/"]')
    user.wait_for_url(re.compile(rf".*/vms/{vm.uuid}/console/$"))
    user.wait_for_function(f"(document.getElementById('vm').consoleText || '').includes({BANNER!r})", timeout=60_000)
    user.wait_for_function("document.getElementById('console-state').dataset.console === 'open'", timeout=30_000)
    user.click("#console")
    # Wait for a prompt first: keys typed while the guest still boots are lost.
    mark = user.evaluate("document.getElementById('vm').consoleText.length")
    user.keyboard.press("Enter")
    user.wait_for_function(f"document.getElementById('vm').consoleText.slice({mark}).includes('#')", timeout=60_000)
    mark = user.evaluate("document.getElementById('vm').consoleText.length")
    user.keyboard.type("uname -a\n")
    user.wait_for_function(
        f"/Linux \\S+ \\d/.test(document.getElementById('vm').consoleText.slice({mark}))", timeout=30_000
    )
    shot(user, "05-vm-console")

    # 5. Delete it (after typing its name, as the dialog asks): the page says so, and the host no
    # longer has the domain.
    user.click(f'nav.tabs a[href="/vms/{vm.uuid}/"]')
    user.wait_for_url(re.compile(rf".*/vms/{vm.uuid}/$"))
    user.click('[data-vm-actions] button[data-vm-action="delete"]')
    confirm = user.locator("dialog.confirm [data-role=confirm]")
    assert confirm.is_disabled()  # not before the name is typed
    user.fill("#confirm-name-input", vm.name)
    confirm.click()
    user.wait_for_url(re.compile(rf".*/vms/{vm.uuid}/$"))
    wait_until(
        lambda: VirtualMachine_state(vm) == VMState.DELETED, 90, "the VM being deleted", process_logs(*logs, vm_worker)
    )
    user.wait_for_function("!document.getElementById('vm-gone').hidden", timeout=30_000)
    shot(user, "06-vm-deleted")
    vm.refresh_from_db()
    assert str(vm.uuid) not in virsh(vm.host.uri, "list", "--all", "--uuid")
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"request.submit", "request.approve", "vm.create", "vm.delete"} <= actions


def VirtualMachine_state(vm) -> str:  # noqa: N802
    vm.refresh_from_db(fields=["state"])
    return vm.state
