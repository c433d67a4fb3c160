"""Portal and job pages in a real browser, without the sandbox (issue #19): they fit a phone, the job
list and the home page follow changes live, the inbox approves in bulk, and a live rejection takes the
"Request sent" banner away. Screenshots go to test-output/browser/portal-pages/."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from jobs import services as job_services
from jobs.choices import JobState
from jobs.models import Job
from jobs.targets import target_for
from portal import services
from portal.choices import RequestState
from portal.models import VMRequest
from sandbox import bootstrap
from tests.browser.support import PASSWORD, in_thread, log_in, sideways_overflow
from tests.support.people import fake_host
from vms.models import VirtualMachine

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def live(page) -> None:
    page.wait_for_function("document.querySelector('[data-live-indicator]').classList.contains('on')")


def test_pages_fit_a_phone_and_the_job_list_is_live(browser, web_server, output_dir):
    admin = get_user_model().objects.create_superuser("chief", "chief@example.org", PASSWORD)
    user = get_user_model().objects.create_user("lan", "lan@example.org", PASSWORD)
    host = fake_host("rack-with-a-rather-long-name-1")
    vm = VirtualMachine.objects.create(name="ux-demo-1", owner=user, host=host)
    job = Job.objects.create(
        kind="vm.reboot",
        target=target_for(vm),
        requested_by=user,
        steps=[{"name": "reboot", "label": "Reboot", "state": "done", "started_at": None, "finished_at": None}],
        log=[
            {
                "seq": 1,
                "at": "2026-11-30T10:00:00+00:00",
                "level": "warning",
                "step": "reboot",
                "message": "The guest did not answer the ACPI request in time; sending it again " * 3,
            }
        ],
    )
    template = bootstrap.ensure_demo_template()
    in_thread(services.submit_request, user, template, "waiting-1", 1, 128, 1)
    shots = output_dir / "portal-pages"
    shots.mkdir(exist_ok=True)

    page = log_in(browser, web_server.url, "chief", width=390)
    for path in ("/", "/jobs/", f"/jobs/{job.pk}/", "/fleet/", "/requests/inbox/", "/requests/", "/audit/"):
        page.goto(web_server.url + path)
        name = path.strip("/").replace("/", "-") or "home"
        page.screenshot(path=str(shots / f"{name}-phone.png"), full_page=True)
        overflow = sideways_overflow(page)
        assert overflow <= 0, f"{path} is {overflow} px too wide at 390 px"
    assert "vms.virtualmachine" not in page.content()

    # Everyone's jobs, live: a new job appears and a state change shows, without a reload.
    page.goto(f"{web_server.url}/jobs/")
    live(page)
    page.evaluate("window.__noReload = true")

    def new_job():
        fresh = Job.objects.create(kind="vm.start", target=target_for(vm), requested_by=admin)
        job_services.publish(fresh)
        return fresh

    fresh = in_thread(new_job)
    page.wait_for_selector(f'[data-job-row="{fresh.pk}"]', timeout=10_000)
    assert "ux-demo-1" in page.locator(f'[data-job-row="{fresh.pk}"]').inner_text()

    def cancel():
        job_services.cancel(Job.objects.get(pk=fresh.pk), admin)

    in_thread(cancel)
    page.wait_for_function(
        f"document.querySelector('[data-job-badge=\"{fresh.pk}\"]').dataset.state === '{JobState.CANCELLED}'",
        timeout=10_000,
    )
    assert page.evaluate("window.__noReload === true")


def test_bulk_approval_and_live_feedback(browser, web_server, output_dir):
    get_user_model().objects.create_superuser("chief", "chief@example.org", PASSWORD)
    user = get_user_model().objects.create_user("lan", "lan@example.org", PASSWORD)
    fake_host()
    template = bootstrap.ensure_demo_template()
    first = in_thread(services.submit_request, user, template, "bulk-1", 1, 128, 1)
    second = in_thread(services.submit_request, user, template, "bulk-2", 1, 128, 1)

    # The requester watches the home page; the admin approves both at once from the inbox.
    home = log_in(browser, web_server.url, "lan")
    live(home)
    home.evaluate("window.__noReload = true")
    assert "You can see 0 virtual machines." in home.locator("#home-vm-count").inner_text()

    admin = log_in(browser, web_server.url, "chief")
    admin.goto(f"{web_server.url}/requests/inbox/")
    assert admin.locator('select[name="host"]').count() == 1
    admin.check("#inbox-select-all")
    assert admin.locator("#inbox-selected-count").inner_text() == "2 selected"
    admin.click("#inbox-approve-selected")
    admin.wait_for_url(re.compile(r".*/requests/inbox/$"))
    admin.screenshot(path=str(output_dir / "portal-pages-inbox-approved.png"), full_page=True)
    assert "Approved 2 requests" in admin.locator(".messages").inner_text()
    states = set(VMRequest.objects.filter(pk__in=[first.pk, second.pk]).values_list("state", flat=True))
    assert states == {RequestState.PROVISIONED}

    home.wait_for_function(
        "document.getElementById('home-vm-count').textContent.includes('2 virtual machines')", timeout=10_000
    )
    assert home.evaluate("window.__noReload === true")

    # A new request: "Request sent" is on the page until the admin's rejection arrives live.
    home.goto(f"{web_server.url}/request/")
    # Two mistakes: both are reported, once each, and the summary takes the focus.
    home.fill("#id_name", "-bad")
    home.fill("#id_vcpus", "99")
    home.click("#submit-request")
    home.wait_for_selector(".error-summary")
    assert home.locator(".error-summary li").count() == 2
    assert home.evaluate("document.activeElement.classList.contains('error-summary')")
    vcpus_messages = home.locator('[data-field="vcpus"] .errorlist li, [data-field="vcpus"] .hint:not(:empty)')
    assert vcpus_messages.count() == 1
    home.fill("#id_name", "rejected-1")
    home.fill("#id_vcpus", "1")
    assert vcpus_messages.count() == 0  # edited: the stale server message is gone, and all is well
    home.click("#submit-request")
    home.wait_for_url(re.compile(r".*/requests/\d+/$"))
    assert home.locator(".messages .request-sent").count() == 1
    live(home)
    req = VMRequest.objects.get(name="rejected-1")
    in_thread(lambda: services.reject(get_user_model().objects.get(username="chief"), req, "Not this week."))
    home.wait_for_function("!document.querySelector('.messages .request-sent')", timeout=10_000)
    assert "Not this week." in home.locator("#request-reason").inner_text()
