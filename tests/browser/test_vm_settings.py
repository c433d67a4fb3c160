"""The Settings tab in a real browser on the sandbox fleet: a running demo VM gets a second vCPU live
through the size form (virsh agrees), a size above the template is refused on the form, notes and
tags are saved, and the VM list filters by that tag and sorts. Screenshots: test-output/browser/vm-settings/."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from jobs.choices import JobState
from jobs.models import Job
from tests.browser.support import PASSWORD, in_thread, log_in
from tests.support.virsh import virsh
from tests.support.worker import wait_for
from tests.vms.conftest import jobs_to_test_queue  # noqa: F401 (a fixture)
from vms.models import VirtualMachine

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def remove_vms_afterwards():
    yield
    from vms.runners.vm import remove_from_host

    for vm in VirtualMachine.objects.select_related("host").filter(host__isnull=False):
        remove_from_host(vm)


def make_vms(admin, template, worker) -> list[int]:
    api = APIClient()
    api.force_authenticate(admin)
    made = []
    for name in ("web-1", "db-1"):
        response = api.post("/api/v1/vms/", {"template": template.pk, "name": name}, format="json")
        assert response.status_code == 202, response.json()
        made.append((response.json()["id"], response.json()["job"]["id"]))
    for _vm, job in made:
        job = wait_for(Job.objects.get(pk=job), worker, timeout=120)
        assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    return [vm for vm, _job in made]


def test_resize_live_notes_tags_and_list_filter(
    browser,
    web_server,
    vm_worker,
    jobs_to_test_queue,  # noqa: F811
    fleet_hosts,
    demo_template,
    output_dir,
    remove_vms_afterwards,
):
    admin = get_user_model().objects.create_superuser("chief", "chief@example.org", PASSWORD)
    # Playwright's loop owns this thread: the jobs' broadcasts go from another one.
    ids = in_thread(make_vms, admin, demo_template, vm_worker)
    vm = VirtualMachine.objects.select_related("host").get(pk=ids[0])
    shots = output_dir / "vm-settings"
    shots.mkdir(exist_ok=True)

    page = log_in(browser, web_server.url, "chief")
    page.goto(f"{web_server.url}/vms/{vm.uuid}/settings/")
    # Above the template's maximum: refused on the form, nothing queued.
    page.fill("#id_size-vcpus", "3")
    page.click("#settings-size button[type=submit]")
    page.wait_for_selector(".error-summary")
    assert "The template allows at most 2 vCPUs" in page.inner_text("#settings-size")
    page.screenshot(path=str(shots / "size-refused.png"), full_page=True)
    assert not Job.objects.filter(kind="vm.update").exists()

    # Within the live maximum: the running VM gets it live.
    page.fill("#id_size-vcpus", "2")
    page.click("#settings-size button[type=submit]")
    page.wait_for_url(f"**/vms/{vm.uuid}/settings/")
    job = wait_for(Job.objects.get(kind="vm.update"), vm_worker, timeout=90)  # the only one yet
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    assert virsh(vm.host.uri, "vcpucount", str(vm.uuid), "--live", "--current").strip() == "2"

    # Beyond the live maximum: saved, and the page says "pending for next boot" when the job ends.
    page.fill("#id_size-memory_mib", "384")
    page.click("#settings-size button[type=submit]")
    page.wait_for_url(f"**/vms/{vm.uuid}/settings/")
    page.wait_for_selector("#pending-next-boot", timeout=60_000)
    assert "memory" in page.inner_text("#pending-next-boot")
    page.screenshot(path=str(shots / "pending-next-boot.png"), full_page=True)

    # Notes and tags, then the list by that tag, sorted.
    page.fill("#id_notes-notes", "front end")
    page.fill("#id_notes-tags", "web prod")
    page.click("#settings-notes button[type=submit]")
    page.wait_for_selector("#settings-general a.badge.tag")
    assert sorted(page.locator("#settings-general a.badge.tag").all_inner_texts()) == ["prod", "web"]
    page.goto(f"{web_server.url}/vms/")
    page.fill("input[name=tag]", "web")
    page.select_option("select[name=sort]", "-name")
    page.click("form.toolbar button[type=submit]")
    page.wait_for_url("**tag=web**")
    rows = page.locator("#vm-table tbody tr")
    assert rows.count() == 1 and "web-1" in rows.first.inner_text() and "prod" in rows.first.inner_text()
    page.screenshot(path=str(shots / "list-by-tag.png"), full_page=True)
    page.goto(f"{web_server.url}/vms/?sort=-name")
    names = page.locator("#vm-table tbody tr td:first-child > a:first-child").all_inner_texts()
    assert names == ["web-1", "db-1"]
