"""Portal pages a careful person enjoys (issue #19): every error at once, sentences instead of keys,
lists that start where staff work, a fleet that scales, and feedback after each action."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from audit import log as audit_log
from jobs.models import Job
from jobs.targets import target_for
from portal import services
from portal.choices import RequestState
from portal.models import VMRequest
from portal.services_fleet import VCPU_OVERCOMMIT_OK, capacity_level, judge
from tests.portal.conftest import make_vm
from tests.support.people import fake_host
from vms.choices import VMState
from vms.models import Host

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def ids_described_but_missing(html: str) -> set[str]:
    described = {i for value in re.findall(r'aria-describedby="([^"]+)"', html) for i in value.split()}
    return {i for i in described if f'id="{i}"' not in html}


# --- the request form ----------------------------------------------------------------------------


def test_the_request_form_reports_every_error_at_once_with_a_summary(alice, template):
    response = client_for(alice).post(
        "/request/",
        {"template": template.pk, "name": "-bad name", "vcpus": "", "memory_mib": "99999", "disk_gib": "1"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    summary = html[html.index('class="error-summary"') : html.index("</div>", html.index('class="error-summary"'))]
    # The missing vCPUs stopped the form; the name and the memory are still judged and listed.
    assert 'href="#id_vcpus"' in summary
    assert 'href="#id_name"' in summary
    assert 'href="#id_memory_mib"' in summary
    assert ids_described_but_missing(html) == set()
    assert html.count('id="id_vcpus-errors"') == 1


def test_a_template_error_links_to_the_first_card(alice, template):
    html = client_for(alice).post("/request/", {"name": "ok-name", "vcpus": 1}).content.decode()
    anchor = re.search(r'<a href="#([^"]+)">Template:', html).group(1)
    assert f'<input type="radio" name="template" id="{anchor}"' in html
    assert ids_described_but_missing(html) == set()


# --- my requests, and feedback -------------------------------------------------------------------


@pytest.fixture
def requests_of_three(alice, bob, admin, template, host, private_queue):
    pending = services.submit_request(alice, template, "alice-waits", 1, 128, 1)
    made = services.approve(admin, services.submit_request(alice, template, "alice-made", 1, 128, 1))
    gone = services.approve(admin, services.submit_request(bob, template, "bob-gone", 1, 128, 1))
    gone.vm.state = VMState.DELETED
    gone.vm.save(update_fields=["state"])
    return {"pending": pending, "made": made, "gone": gone}


def test_staff_see_everyones_requests_first_and_users_only_theirs(requests_of_three, alice, admin):
    staff_html = client_for(admin).get("/requests/").content.decode()
    assert all(name in staff_html for name in ("alice-waits", "alice-made", "bob-gone"))
    assert "bob-gone" not in client_for(admin).get("/requests/", {"who": "mine"}).content.decode()
    for query in ({}, {"who": "all"}, {"all": "1"}):
        html = client_for(alice).get("/requests/", query).content.decode()
        assert "bob-gone" not in html and "alice-made" in html


def test_the_list_links_a_made_vm_and_says_when_it_was_deleted(requests_of_three, admin):
    html = client_for(admin).get("/requests/").content.decode()
    made = requests_of_three["made"]
    assert f'<a href="/vms/{made.vm.uuid}/">alice-made</a>' in html
    gone_row = html[html.index("bob-gone") :]
    gone_row = gone_row[: gone_row.index("</tr>")]
    assert "VM deleted" in gone_row and "/vms/" not in gone_row
    detail = client_for(admin).get(f"/requests/{requests_of_three['gone'].pk}/").content.decode()
    assert '<li data-step="created" class="done">VM deleted</li>' in detail


def test_cancelling_says_so(requests_of_three, alice):
    req = requests_of_three["pending"]
    html = client_for(alice).post(f"/requests/{req.pk}/cancel/", follow=True).content.decode()
    assert "Cancelled the request for alice-waits." in html


def test_the_approval_message_links_the_new_vm(requests_of_three, admin):
    req = requests_of_three["pending"]
    html = client_for(admin).post(f"/requests/{req.pk}/approve/", follow=True).content.decode()
    vm = VMRequest.objects.get(pk=req.pk).vm
    assert f'Approved <a href="/vms/{vm.uuid}/">alice-waits</a>: the VM is being created on' in html


def test_request_sent_banner_is_tagged_for_the_live_decision(alice, template):
    response = client_for(alice).post(
        "/request/",
        {"template": template.pk, "name": "fresh", "vcpus": 1, "memory_mib": 128, "disk_gib": 1},
        follow=True,
    )
    assert '<li class="request-sent success">Request sent.' in response.content.decode()


# --- the approvals inbox -------------------------------------------------------------------------


def test_the_inbox_has_one_host_chooser_and_the_requesters_quota_use(alice, bob, admin, template, host):
    for n in range(3):
        services.submit_request(alice if n else bob, template, f"want-{n}", 1, 128, 1)
    for n in range(5):
        fake_host(f"extra-{n}", f"test:///extra-{n}")
    html = client_for(admin).get("/requests/inbox/").content.decode()
    assert html.count('<select name="host"') == 1
    assert html.count("extra-4") == 1
    assert "Automatic placement" in html
    # Two waiting requests of alice's count against her quota: 2 VMs, 2 vCPUs, 256 MiB, 2 GiB.
    assert re.search(r"alice uses 2 of \d+ VMs, 2 of \d+ vCPUs, 256 MiB of [\d.]+ [GM]iB memory", html)
    assert "1 vCPU," in html and "1 vCPUs" not in html


def test_bulk_approve_approves_the_ticked_requests(alice, bob, admin, template, host, private_queue):
    one = services.submit_request(alice, template, "bulk-1", 1, 128, 1)
    two = services.submit_request(bob, template, "bulk-2", 1, 128, 1)
    left = services.submit_request(bob, template, "bulk-3", 1, 128, 1)
    html = (
        client_for(admin)
        .post("/requests/inbox/", {"requests": [one.pk, two.pk], "host": ""}, follow=True)
        .content.decode()
    )
    states = dict(VMRequest.objects.values_list("name", "state"))
    assert states == {"bulk-1": RequestState.PROVISIONED, "bulk-2": RequestState.PROVISIONED, "bulk-3": "pending"}
    assert "Approved 2 requests:" in html and f'href="/vms/{VMRequest.objects.get(pk=one.pk).vm.uuid}/"' in html
    assert f'data-inbox-request="{left.pk}"' in html


def test_bulk_approve_reports_a_request_decided_meanwhile(alice, admin, template, host, private_queue):
    req = services.submit_request(alice, template, "late", 1, 128, 1)
    services.reject(admin, req, "no")
    html = client_for(admin).post("/requests/inbox/", {"requests": [req.pk]}, follow=True).content.decode()
    assert "late was not approved" in html


def test_bulk_approve_is_for_admins_only(alice, template, host):
    req = services.submit_request(alice, template, "mine", 1, 128, 1)
    assert client_for(alice).post("/requests/inbox/", {"requests": [req.pk]}).status_code == 403
    assert VMRequest.objects.get(pk=req.pk).state == RequestState.PENDING


# --- the fleet -----------------------------------------------------------------------------------


def test_vcpu_overcommit_up_to_the_sane_ratio_is_normal():
    assert capacity_level("vcpus", 25, 16) == "ok"  # 156 %
    assert capacity_level("vcpus", 16 * VCPU_OVERCOMMIT_OK + 1, 16) == "over"
    assert capacity_level("memory", 59, 64) == "warn"
    assert capacity_level("memory", 50, 64) == "ok"
    assert capacity_level("disk", 0, 0) == "ok"


def test_the_fleet_page_words_capacity_and_finds_hosts(admin, alice, host):
    make_vm(alice, host, "big", vcpus=25, memory_mib=1024)
    Host.objects.create(name="no-pools", uri="test:///nopools", online=True, capabilities={"cpus": 4})
    html = client_for(admin).get("/fleet/").content.decode()
    assert "25 vCPUs on 16 cores (1.6 per core)" in html
    assert "1 GiB of 64 GiB used (2 %)" in html
    assert "no storage data" in html and "0 / 0" not in html
    assert 'id="fleet-search"' in html and 'id="fleet-state"' in html and 'id="fleet-sort"' in html
    big = html[html.index('data-name="fake-1"') :]
    assert 'data-attention="ok"' in big[:200]
    summary = client_for(admin).get("/fleet/summary.json").json()
    vcpus = next(h for h in summary["hosts"] if h["id"] == host.pk)["capacity"][0]
    assert (vcpus["level"], vcpus["text"]) == ("ok", "25 vCPUs on 16 cores (1.6 per core)")


def test_the_admin_home_summarises_the_fleet(admin, db):
    for n in range(8):
        fake_host(f"fine-{n}", f"test:///fine-{n}")
    Host.objects.create(name="down-1", uri="test:///down", online=False)
    html = client_for(admin).get("/").content.decode()
    assert "fine-7" not in html  # no table of every host
    assert "Fine: 8" in html and "Offline: 1" in html
    assert '<a href="/fleet/hosts/' in html and ">down-1</a>" in html
    assert judge({"hosts": []}) == {"hosts": []}


# --- the audit log -------------------------------------------------------------------------------


def test_audit_entries_are_sentences_with_links(admin, alice, host):
    vm = make_vm(alice, host, "ux-demo-1")
    job = Job.objects.create(kind="vm.reboot", target=target_for(vm), requested_by=alice)
    audit_log.record(alice, "vm.reboot", vm, job=job.pk)
    audit_log.record(admin, "vm.share", vm, user="bob", level="view")
    for user in (alice, admin):
        html = client_for(user).get("/audit/").content.decode()
        assert (
            f'alice rebooted <a href="/vms/{vm.uuid}/">ux-demo-1</a> (<a href="/jobs/{job.pk}/">job #{job.pk}</a>)'
            in html
        )
        assert "vm.reboot" not in html.split('<table class="data" id="audit">')[1]
        assert "{&quot;job&quot;" not in html and '{"job"' not in html
    assert "user: bob · access: View" in client_for(admin).get("/audit/").content.decode()
