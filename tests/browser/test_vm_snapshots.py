"""The Snapshots tab in a real browser: take, the tree with the current one marked (re-read live when
a job ends), revert after the confirm dialog, delete with children; and the reasons a user cannot.
The jobs run on a real worker against the sandbox fleet; virsh agrees."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from jobs.choices import JobState
from jobs.models import Job
from tests.browser.support import PASSWORD
from tests.browser.test_vm_pages import session_cookie
from tests.support.virsh import virsh
from tests.support.worker import wait_for
from vms.choices import ShareLevel, VMState
from vms.models import Host, VirtualMachine, VMShare

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RAW_XML = (
    "<domain type='kvm'><name>x</name><devices><disk type='file' device='disk'>"
    "<driver name='qemu' type='raw'/><source file='/var/lib/x.img'/><target dev='vda' bus='virtio'/>"
    "</disk></devices></domain>"
)


def host_snapshots(vm: VirtualMachine) -> set[str]:
    return set(virsh(vm.host.uri, "snapshot-list", str(vm.uuid), "--name").split())


def test_take_revert_and_delete_from_the_tab(
    browser, web_server, output_dir, vm_worker, vm_worker_queue, fleet_hosts, demo_template, settings
):
    settings.CELERY_TASK_DEFAULT_QUEUE = vm_worker_queue  # the VM made here, through the API in this process
    chief = get_user_model().objects.create_superuser("chief", "chief@example.org", PASSWORD)
    api = APIClient()
    api.force_authenticate(chief)
    response = api.post("/api/v1/vms/", {"template": demo_template.pk, "name": "snap-page"}, format="json")
    assert response.status_code == 202, response.json()
    job = wait_for(Job.objects.get(pk=response.json()["job"]["id"]), vm_worker, timeout=120)
    assert job.state == JobState.SUCCEEDED, job.error
    vm = VirtualMachine.objects.select_related("host").get(pk=response.json()["id"])

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.add_cookies([session_cookie(chief, web_server.url)])
    page = context.new_page()
    page.goto(f"{web_server.url}/vms/{vm.uuid}/snapshots/")
    assert "no snapshots yet" in page.locator("#snapshots-card").inner_text()
    assert "keeps its memory too" in page.locator("#snapshot-new-card").inner_text()

    # A bad name: the form says why, nothing is queued.
    jobs_before = Job.objects.count()
    page.get_by_label("Name").fill("bad name")
    page.get_by_role("button", name="Take snapshot").click()
    assert "letters, digits" in page.locator("#snapshot-form").inner_text()
    assert Job.objects.count() == jobs_before

    def take(name: str) -> None:
        page.get_by_label("Name").fill(name)
        page.get_by_label("Description").fill(f"{name} (from the page)")
        page.get_by_role("button", name="Take snapshot").click()
        # The job ends; the tab re-reads the tree by itself (no reload), the new one current.
        page.wait_for_selector(f'li[data-snapshot="{name}"] > .snapshot [data-role=current]', timeout=90_000)

    take("before-upgrade")
    take("after-upgrade")
    assert host_snapshots(vm) == {"before-upgrade", "after-upgrade"}
    # A tree: the second is a child of the first.
    assert page.locator('li[data-snapshot="before-upgrade"] li[data-snapshot="after-upgrade"]').count() == 1
    page.screenshot(path=str(output_dir / "50-vm-snapshots-tree.png"), full_page=True)

    # Revert asks first, and says a running snapshot comes back running.
    page.locator('li[data-snapshot="before-upgrade"] > .snapshot [data-role=revert]').click()
    dialog = page.locator("dialog[open]")
    assert "comes back running" in dialog.inner_text()
    page.screenshot(path=str(output_dir / "51-vm-snapshot-revert-confirm.png"))
    dialog.locator("[data-role=cancel]").click()
    assert Job.objects.filter(kind="vm.snapshot-revert").count() == 0  # cancelled: nothing asked
    page.locator('li[data-snapshot="before-upgrade"] > .snapshot [data-role=revert]').click()
    page.locator("dialog[open] [data-role=confirm]").click()
    page.wait_for_selector('li[data-snapshot="before-upgrade"] > .snapshot [data-role=current]', timeout=90_000)
    assert virsh(vm.host.uri, "snapshot-current", str(vm.uuid), "--name").strip() == "before-upgrade"
    assert virsh(vm.host.uri, "domstate", str(vm.uuid)).strip() == "running"

    # Delete with children: the whole tree goes.
    page.locator('li[data-snapshot="before-upgrade"] > .snapshot [data-role=delete-children]').click()
    page.locator("dialog[open] [data-role=confirm]").click()
    page.wait_for_selector("#snapshots-card >> text=no snapshots yet", timeout=90_000)
    assert host_snapshots(vm) == set()


def test_the_tab_says_why_a_user_cannot_take_snapshots(browser, web_server, output_dir):
    owner = get_user_model().objects.create_user("owner", "o@example.org", PASSWORD)
    viewer = get_user_model().objects.create_user("viewer", "v@example.org", PASSWORD)
    host = Host.objects.create(name="rack-01", uri="test:///rack1", online=True)

    def vm(name, **fields):
        return VirtualMachine.objects.create(
            name=name, host=host, owner=owner, state=VMState.RUNNING, memory_mib=256, **fields
        )

    raw = vm("raw-disk", domain_xml=RAW_XML)
    once = vm("run-once", run_once=True)
    shared = vm("shared")
    VMShare.objects.create(vm=shared, user=viewer, level=ShareLevel.VIEW)
    shared.snapshots.create(name="s1", state="running", with_memory=True, current=True, created_at=shared.created_at)

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.add_cookies([session_cookie(owner, web_server.url)])
    page = context.new_page()
    page.goto(f"{web_server.url}/vms/{raw.uuid}/snapshots/")
    refusal = page.locator("[data-role=refusal]").inner_text()
    assert "vda (raw) is not qcow2" in refusal and "qcow2" in refusal
    assert page.locator("#snapshot-form").count() == 0
    page.screenshot(path=str(output_dir / "52-vm-snapshots-raw-disk.png"), full_page=True)
    page.goto(f"{web_server.url}/vms/{once.uuid}/snapshots/")
    assert "run-once VM" in page.locator("[data-role=refusal]").inner_text()

    viewing = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    viewing.add_cookies([session_cookie(viewer, web_server.url)])
    page = viewing.new_page()
    page.goto(f"{web_server.url}/vms/{shared.uuid}/snapshots/")
    assert page.locator('li[data-snapshot="s1"] [data-role=current]').count() == 1
    assert "view only" in page.locator("[data-role=refusal]").inner_text()
    assert page.locator("[data-role=revert], [data-role=delete]").count() == 0
