"""The Disks and media tab in a real browser, on the sandbox fleet with a real worker: add a disk, detach it
(the confirm dialog, delete chosen), add a CD-ROM drive, insert a published ISO, eject. virsh is the witness."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from jobs.choices import FINISHED, JobState
from jobs.models import Job
from tests.browser.support import PASSWORD, sideways_overflow
from tests.browser.test_vm_pages import session_cookie
from tests.vms.conftest import jobs_to_test_queue  # noqa: F401 (fixture)
from tests.vms.test_disks import blklist, finish, make_iso, new_vm, power, volumes
from vms.models import VirtualMachine
from vms.services import images as image_services

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def last_job_done(vm, kind: str, timeout: float = 90) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.filter(kind=kind).order_by("-pk").first()
        if job is not None and job.state in FINISHED:
            assert job.state == JobState.SUCCEEDED, (job.error, job.log)
            return job
        time.sleep(0.3)
    raise AssertionError(f"{kind} did not finish")


def test_disks_tab_add_detach_cdrom_insert_eject(
    browser,
    web_server,
    output_dir,
    vm_worker,
    jobs_to_test_queue,  # noqa: F811
    fleet_hosts,
    demo_template,
):
    chief = get_user_model().objects.create_superuser("chief", "chief@example.org", PASSWORD)
    api = APIClient()
    api.force_authenticate(chief)
    vm = new_vm(api, demo_template, "disks-page", vm_worker)
    iso = make_iso("rescue-page", chief)
    image_services.set_published(iso, True, chief)

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.add_cookies([session_cookie(chief, web_server.url)])
    page = context.new_page()
    url = f"{web_server.url}/vms/{vm.uuid}/disks/"
    page.goto(url)
    assert page.locator("#disks tr[data-disk=vda]").is_visible()
    assert "system disk" in page.locator("#disks tr[data-disk=vda]").inner_text()
    assert page.locator("#cdrom-add").is_disabled()  # running: a drive is added to a stopped VM

    # Add a 1 GiB virtio disk from the form.
    page.fill("#disk-size", "1")
    page.select_option("#disk-bus", "virtio")
    page.click("#disk-add button[type=submit]")
    page.wait_for_selector(".messages")
    # No reload: when the job finishes, the tab re-reads its cards from the server (vm_disks.js).
    page.wait_for_selector("#disks tr[data-disk=vdb]", timeout=90_000)
    last_job_done(vm, "vm.disk-add")
    row = page.locator("#disks tr[data-disk=vdb]")
    assert "1 GiB" in row.inner_text()
    assert "vdb" in blklist(vm)
    page.screenshot(path=str(output_dir / "60-vm-disks-tab.png"), full_page=True)

    # Stop it, then detach vdb and delete its volume: the form asks first.
    power(api, vm, "force-off", vm_worker)
    page.goto(url)
    row = page.locator("#disks tr[data-disk=vdb]")
    row.get_by_text("Detach…").click()
    row.get_by_label("Delete it now (its data is lost)").check()
    row.get_by_role("button", name="Detach", exact=True).click()
    confirm = page.locator("dialog[open]")
    assert "Detach disk vdb" in confirm.inner_text()
    confirm.locator("[data-role=confirm]").click()
    page.wait_for_selector(".messages")
    last_job_done(vm, "vm.disk-detach")
    assert "vdb" not in blklist(vm)
    assert f"{vm.uuid}-disk1.qcow2" not in volumes(vm)

    # A CD-ROM drive for the stopped VM, then insert the published ISO (copied to the host first) and eject.
    page.goto(url)
    page.click("#cdrom-add")
    page.wait_for_selector(".messages")
    last_job_done(vm, "vm.cdrom-add")
    page.goto(url)
    page.select_option("#cdrom-image", str(iso.pk))
    page.click("#cdrom-insert")
    page.wait_for_selector(".messages")
    job = last_job_done(vm, "vm.cdrom-insert")
    assert [s["state"] for s in job.steps] == ["done", "done", "done"]
    page.goto(url)
    assert page.locator("#cdrom-media").inner_text() == "rescue-page"
    assert blklist(vm)["hda"].endswith(iso.volume)
    page.screenshot(path=str(output_dir / "61-vm-disks-cdrom.png"), full_page=True)
    page.click("#cdrom-eject")
    page.wait_for_selector(".messages")
    last_job_done(vm, "vm.cdrom-eject")
    page.goto(url)
    assert page.locator("#cdrom-media").inner_text() == "empty"
    assert blklist(vm)["hda"] == "-"

    # A phone: no sideways scrolling.
    phone = browser.new_context(viewport={"width": 375, "height": 800}, locale="en-US")
    phone.add_cookies([session_cookie(chief, web_server.url)])
    small = phone.new_page()
    small.goto(url)
    assert sideways_overflow(small) == 0
    finish(api.delete(f"/api/v1/vms/{vm.pk}/"), vm_worker)
    assert not VirtualMachine.objects.filter(pk=vm.pk).exclude(state="deleted").exists()
