"""The permission matrix: every page, form, API endpoint and socket the portal adds.

A user never sees or acts on another user's VM, job, console or request; every state change
refuses GET (405) and needs the CSRF token; admin-only things answer 403 to users.
"""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from jobs.models import Job
from jobs.targets import target_for
from portal import services
from portal.choices import RequestState
from portal.models import VMRequest
from tests.portal.conftest import make_vm
from vms.choices import ShareLevel
from vms.services import sharing

pytestmark = pytest.mark.django_db


def client_for(user, csrf=False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def csrf_post(client: Client, url: str, data: dict | None = None):
    """A POST the way a browser sends it: with the token from the cookie."""
    client.get("/request/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": token})


@pytest.fixture
def world(alice, bob, admin, template, host, private_queue):
    alice_vm = make_vm(alice, host, "alice-vm")
    bob_vm = make_vm(bob, host, "bob-vm")
    alice_req = services.submit_request(alice, template, "alice-req", 1, 128, 1)
    bob_req = services.submit_request(bob, template, "bob-req", 1, 128, 1)
    bob_job = Job.objects.create(kind="vm.start", target=target_for(bob_vm), requested_by=bob)
    return {"alice_vm": alice_vm, "bob_vm": bob_vm, "alice_req": alice_req, "bob_req": bob_req, "bob_job": bob_job}


# --- pages ---------------------------------------------------------------------------------------
PAGES_FOR_EVERYONE = ["/", "/request/", "/requests/", "/vms/", "/audit/"]
ADMIN_PAGES = ["/requests/inbox/", "/fleet/", "/fleet/summary.json"]


def test_anonymous_is_sent_to_log_in(world, host):
    client = Client()
    urls = [
        *PAGES_FOR_EVERYONE,
        *ADMIN_PAGES,
        f"/fleet/hosts/{host.pk}/",
        f"/vms/{world['alice_vm'].uuid}/",
        f"/requests/{world['alice_req'].pk}/",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_user_pages(world, alice, host):
    client = client_for(alice)
    for url in PAGES_FOR_EVERYONE:
        assert client.get(url).status_code == 200, url
    for url in [*ADMIN_PAGES, f"/fleet/hosts/{host.pk}/"]:
        assert client.get(url).status_code == 403, url
    listing = client.get("/vms/").content.decode()
    assert "alice-vm" in listing and "bob-vm" not in listing
    requests = client.get("/requests/?all=1").content.decode()
    assert "alice-req" in requests and "bob-req" not in requests
    assert client.get(f"/vms/{world['alice_vm'].uuid}/").status_code == 200
    assert client.get(f"/vms/{world['bob_vm'].uuid}/").status_code == 404
    assert client.get(f"/requests/{world['bob_req'].pk}/").status_code == 404
    assert client.get(f"/jobs/{world['bob_job'].pk}/").status_code == 404
    assert "bob-vm" not in client.get("/audit/").content.decode()


def test_admin_pages(world, admin, host):
    client = client_for(admin)
    for url in [
        *PAGES_FOR_EVERYONE,
        *ADMIN_PAGES,
        f"/fleet/hosts/{host.pk}/",
        f"/vms/{world['bob_vm'].uuid}/",
        f"/requests/{world['bob_req'].pk}/",
    ]:
        assert client.get(url).status_code == 200, url
    inbox = client.get("/requests/inbox/").content.decode()
    assert "alice-req" in inbox and "bob-req" in inbox
    summary = client.get("/fleet/summary.json").json()
    assert summary["hosts"][0]["by_state"] == {"running": 2}


def test_operator_operates_every_vm_but_no_admin_pages(world, operator):
    client = client_for(operator)
    assert client.get(f"/vms/{world['bob_vm'].uuid}/").status_code == 200
    assert client.get("/fleet/").status_code == 403
    response = csrf_post(client, f"/vms/{world['bob_vm'].uuid}/action/", {"action": "reboot"})
    assert response.status_code == 302
    assert Job.objects.filter(kind="vm.reboot", target=target_for(world["bob_vm"])).exists()


def state_changes(world, host) -> list[tuple[str, dict]]:
    """Every POST the portal's pages accept, aimed at someone else's object where that applies."""
    a, b = world["alice_vm"], world["bob_vm"]
    return [
        (f"/requests/{world['alice_req'].pk}/cancel/", {}),
        (f"/requests/{world['alice_req'].pk}/approve/", {"host": host.pk}),
        (f"/requests/{world['alice_req'].pk}/reject/", {"reason": "no"}),
        (f"/vms/{a.uuid}/action/", {"action": "reboot"}),
        (f"/vms/{a.uuid}/share/", {"username": "boss", "level": "view"}),
        (f"/vms/{b.uuid}/action/", {"action": "reboot"}),
        (f"/vms/{b.uuid}/share/", {"username": "alice", "level": "operate"}),
        ("/request/", {"template": "1", "name": "x", "vcpus": 1, "memory_mib": 128, "disk_gib": 1}),
    ]


def test_every_state_change_refuses_get(world, admin, host):
    client = client_for(admin)
    for url, _data in state_changes(world, host):
        if url == "/request/":
            continue  # the form page itself
        assert client.get(url).status_code == 405, url


def test_every_state_change_needs_csrf(world, admin, alice, host):
    for user in (admin, alice):
        client = client_for(user, csrf=True)
        for url, data in state_changes(world, host):
            assert client.post(url, data).status_code == 403, (user, url)
    # Nothing happened.
    assert VMRequest.objects.filter(state=RequestState.PENDING).count() == 2
    assert not Job.objects.filter(kind="vm.reboot").exists()


def test_a_user_cannot_act_on_anothers_things(world, alice, bob, host):
    client = client_for(bob, csrf=True)
    a = world["alice_vm"]
    assert csrf_post(client, f"/requests/{world['alice_req'].pk}/cancel/").status_code == 404
    assert csrf_post(client, f"/requests/{world['bob_req'].pk}/approve/").status_code == 403
    assert csrf_post(client, f"/requests/{world['bob_req'].pk}/reject/", {"reason": "x"}).status_code == 403
    assert csrf_post(client, f"/vms/{a.uuid}/action/", {"action": "delete"}).status_code == 404
    assert csrf_post(client, f"/vms/{a.uuid}/share/", {"username": "bob", "level": "operate"}).status_code == 404
    world["alice_req"].refresh_from_db()
    assert world["alice_req"].state == RequestState.PENDING
    assert not Job.objects.filter(target=target_for(a)).exists()


def test_shared_view_only_user_sees_but_cannot_act(world, alice, bob):
    vm = world["alice_vm"]
    share = sharing.share_vm(alice, vm, "bob", ShareLevel.VIEW)
    client = client_for(bob, csrf=True)
    assert client.get(f"/vms/{vm.uuid}/").status_code == 200
    response = csrf_post(client, f"/vms/{vm.uuid}/action/", {"action": "reboot"})
    assert response.status_code == 302 and not Job.objects.filter(kind="vm.reboot").exists()
    assert AuditEntry.objects.filter(action="vm.reboot", result="refused", actor=bob).exists()
    # Cannot re-share nor unshare.
    csrf_post(client, f"/vms/{vm.uuid}/share/", {"username": "boss", "level": "operate"})
    csrf_post(client, f"/vms/{vm.uuid}/share/{share.pk}/delete/")
    assert list(vm.shares.values_list("user__username", flat=True)) == ["bob"]


def test_request_form_round_trip(alice, template):
    client = client_for(alice, csrf=True)
    bad = csrf_post(
        client, "/request/", {"template": template.pk, "name": "bad name", "vcpus": 9, "memory_mib": 128, "disk_gib": 1}
    )
    assert bad.status_code == 200
    body = bad.content.decode()
    assert "at most 2" in body and "letters, digits" in body
    good = csrf_post(
        client,
        "/request/",
        {
            "template": template.pk,
            "name": "good-1",
            "vcpus": 1,
            "memory_mib": 128,
            "disk_gib": 1,
            "ssh_keys": "",
            "note": "hi",
        },
    )
    req = VMRequest.objects.get(name="good-1")
    assert good.status_code == 302 and good["Location"] == f"/requests/{req.pk}/"
    assert client.get(good["Location"]).status_code == 200


def test_admin_approves_and_rejects_from_the_inbox(world, admin, host):
    client = client_for(admin, csrf=True)
    response = csrf_post(client, f"/requests/{world['alice_req'].pk}/approve/", {"host": host.pk, "next": "inbox"})
    assert response.status_code == 302 and response["Location"] == "/requests/inbox/"
    world["alice_req"].refresh_from_db()
    assert world["alice_req"].state == RequestState.PROVISIONED and world["alice_req"].vm.host == host
    csrf_post(client, f"/requests/{world['bob_req'].pk}/reject/", {"reason": "not now"})
    world["bob_req"].refresh_from_db()
    assert world["bob_req"].state == RequestState.REJECTED


# --- API -----------------------------------------------------------------------------------------
def api_for(user, csrf=False) -> APIClient:
    client = APIClient(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def test_api_requests_are_private(world, alice):
    api = api_for(alice)
    assert [r["name"] for r in api.get("/api/v1/requests/").json()] == ["alice-req"]
    assert api.get(f"/api/v1/requests/{world['bob_req'].pk}/").status_code == 404
    assert api.post(f"/api/v1/requests/{world['bob_req'].pk}/cancel/").status_code == 404
    assert api.post(f"/api/v1/requests/{world['alice_req'].pk}/approve/").status_code == 403
    assert api.post(f"/api/v1/requests/{world['alice_req'].pk}/reject/", {"reason": "x"}).status_code == 403
    assert api.get(f"/api/v1/requests/{world['alice_req'].pk}/approve/").status_code in (403, 405)
    assert api.get(f"/api/v1/requests/{world['alice_req'].pk}/cancel/").status_code == 405


def test_api_submit_approve_reject(alice, admin, template, host, private_queue):
    api = api_for(alice)
    response = api.post("/api/v1/requests/", {"template": template.pk, "name": "api-1"}, format="json")
    assert response.status_code == 201 and response.json()["state"] == "pending"
    refused = api.post("/api/v1/requests/", {"template": template.pk, "name": "api 2", "vcpus": 50}, format="json")
    assert refused.status_code == 400 and {"name", "vcpus"} <= refused.json().keys()
    boss = api_for(admin)
    approved = boss.post(f"/api/v1/requests/{response.json()['id']}/approve/", {"host": host.pk}, format="json")
    assert approved.status_code == 200 and approved.json()["state"] == "provisioned" and approved.json()["vm"]
    again = boss.post(f"/api/v1/requests/{response.json()['id']}/reject/", {"reason": "x"}, format="json")
    assert again.status_code == 400


def test_api_needs_csrf_with_a_session(alice, template):
    api = api_for(alice, csrf=True)
    assert api.post("/api/v1/requests/", {"template": template.pk, "name": "x"}, format="json").status_code == 403


def test_api_quotas(alice, bob, admin):
    api = api_for(alice)
    assert api.post("/api/v1/quotas/", {"user": "alice", "max_vms": 50}, format="json").status_code == 403
    me = api.get("/api/v1/quotas/me/").json()
    assert me["limits"]["vms"]["used"] == 0
    boss = api_for(admin)
    created = boss.post("/api/v1/quotas/", {"user": "alice", "max_vms": 2}, format="json")
    assert created.status_code == 201
    boss.post("/api/v1/quotas/", {"user": "bob", "max_vms": 7}, format="json")
    rows = api.get("/api/v1/quotas/").json()
    assert [r["user"] for r in rows] == ["alice"]
    assert api.get("/api/v1/quotas/me/").json()["limits"]["vms"]["limit"] == 2
    assert api.patch(f"/api/v1/quotas/{created.json()['id']}/", {"max_vms": 99}, format="json").status_code == 403
    assert boss.post("/api/v1/quotas/", {"max_vms": 2}, format="json").status_code == 400


def test_api_audit(world, alice, admin):
    api = api_for(alice)
    entries = api.get("/api/v1/audit/").json()
    assert {e["object_name"] for e in entries} == {"alice-req"}
    assert len(api_for(admin).get("/api/v1/audit/?action=request.submit").json()) == 2
    assert api.post("/api/v1/audit/", {}).status_code == 405
