"""The Network tab in a real browser, on the sandbox fleet with a real worker and watcher: the demo VM's
address on `default` appears by itself; add a NIC from the host's real list, see it (and its own DHCP
address) without reloading; set its link down; remove it after the confirmation. virsh agrees.
Screenshots in test-output/browser/."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from jobs.choices import JobState
from jobs.models import Job
from tests.browser.support import PASSWORD, log_in
from tests.support.virsh import virsh
from tests.support.wait import wait_until
from tests.support.worker import wait_for
from vms.models import VirtualMachine
from vms.runners.vm import remove_from_host
from vms.watcher.leases import lease_holder

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROWS = "#interfaces tbody tr[data-mac]"


def _rows(page) -> int:
    return page.locator(ROWS).count()


def test_network_tab_add_link_remove_with_live_addresses(
    browser, web_server, watcher, vm_worker, vm_worker_queue, settings, fleet_hosts, demo_template, output_dir
):
    settings.CELERY_TASK_DEFAULT_QUEUE = vm_worker_queue  # the VM made here through the API
    admin = get_user_model().objects.create_superuser("netadmin", "n@example.org", PASSWORD)
    wait_until(lambda: all(lease_holder(h.pk) for h in fleet_hosts), 30, "the watcher taking the hosts", watcher.log)
    api = APIClient()
    api.force_authenticate(admin)
    response = api.post("/api/v1/vms/", {"template": demo_template.pk, "name": "net-tab"}, format="json")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["job"]["id"]), vm_worker, timeout=120)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    vm = VirtualMachine.objects.select_related("host").get(pk=response.json()["id"])

    try:

        def shot(page, name):
            page.screenshot(path=str(output_dir / f"network-{name}.png"), full_page=True)

        page = log_in(browser, web_server.url, "netadmin")
        page.goto(f"{web_server.url}/vms/{vm.uuid}/network/")
        assert _rows(page) == 1
        first_mac = page.locator(ROWS).first.get_attribute("data-mac")
        # The address comes by itself (the watcher's `vm.addresses`), whether or not it was there on load.
        page.wait_for_function(
            "document.querySelector('#interfaces tr[data-mac] [data-role=addresses]')"
            ".textContent.includes('192.168.122.')",
            timeout=90_000,
        )
        shot(page, "01-address")

        # Add: the chooser offers what the host has; the table grows without a reload once the job is done.
        options = page.locator("#id_target option").all_inner_texts()
        assert "default" in options
        page.select_option("#id_target", "network:default")
        page.select_option("#id_model", "virtio")
        page.click("#add-interface button[type=submit]")
        page.wait_for_url(f"**/vms/{vm.uuid}/network/")
        page.evaluate("window.__noReload = true")
        page.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 2", timeout=60_000)
        new_mac = next(
            m for m in page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.mac)") if m != first_mac
        )
        assert new_mac in virsh(vm.host.uri, "domiflist", str(vm.uuid)).lower()
        # The guest asks DHCP on the new NIC too: its address arrives live.
        page.wait_for_function(
            f"document.querySelector('tr[data-mac=\"{new_mac}\"] [data-role=addresses]').textContent"
            ".includes('192.168.122.')",
            timeout=90_000,
        )
        assert page.evaluate("window.__noReload === true"), "the page reloaded"
        shot(page, "02-added")

        # Link down.
        page.locator(f'tr[data-mac="{new_mac}"] button[value="down"]').click()
        page.wait_for_url(f"**/vms/{vm.uuid}/network/")
        page.wait_for_selector(f'tr[data-mac="{new_mac}"] [data-link="down"]', timeout=60_000)
        assert "down" in virsh(vm.host.uri, "domif-getlink", str(vm.uuid), new_mac)
        shot(page, "03-link-down")

        # Remove, after the question.
        page.locator(f'tr[data-mac="{new_mac}"] button.danger').click()
        dialog = page.locator("dialog[open]")
        assert new_mac in dialog.inner_text()
        dialog.locator("[data-role=confirm]").click()
        page.wait_for_url(f"**/vms/{vm.uuid}/network/")
        page.wait_for_function(f"document.querySelectorAll('{ROWS}').length === 1", timeout=60_000)
        assert new_mac not in virsh(vm.host.uri, "domiflist", str(vm.uuid)).lower()
        shot(page, "04-removed")

        # A bad choice (a network the host does not have): the form says so, nothing is queued.
        jobs = Job.objects.count()
        page.evaluate(
            "() => { const o = document.createElement('option'); o.value = 'network:nowhere';"
            " o.textContent = 'nowhere'; document.querySelector('#id_target').appendChild(o); }"
        )
        page.select_option("#id_target", "network:nowhere")
        page.click("#add-interface button[type=submit]")
        assert page.locator(".error-summary").is_visible()
        assert Job.objects.count() == jobs
        shot(page, "05-bad-choice")
    finally:
        remove_from_host(vm)  # the browser tests have no cleanup of their own
