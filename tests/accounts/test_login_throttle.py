"""Issue 13: failed logins are throttled per account (5 in 15 minutes) and per address (20), on the login
page, the admin's and API token auth; refused with how long to wait, and audited without growing the log."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEntry
from tests.support.people import PASSWORD

pytestmark = pytest.mark.django_db

ACCOUNT_MESSAGE = "Too many failed logins for this account; try again in 15 minutes."
ADDRESS_MESSAGE = "Too many failed logins from this address; try again in 15 minutes."


def log_in(username: str, password: str, address: str = "10.1.1.1", url: str = "/login/"):
    client = Client(REMOTE_ADDR=address)
    return client, client.post(url, {"username": username, "password": password})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def actions() -> list[str]:
    return list(AuditEntry.objects.order_by("id").values_list("action", flat=True))


def test_five_failed_logins_lock_the_account_for_a_while(alice):
    for _ in range(5):
        _client, answer = log_in("alice", "wrong")
        assert answer.status_code == 200 and ACCOUNT_MESSAGE not in answer.content.decode()
    # Now even the right password is refused, from anywhere, with how long to wait.
    client, answer = log_in("alice", PASSWORD, address="10.9.9.9")
    assert answer.status_code == 429 and ACCOUNT_MESSAGE in answer.content.decode()
    assert not logged_in(client)
    # Another account from the same address is not locked.
    assert logged_in(log_in("boss-less", "x")[0]) is False
    assert actions().count("login.failed") == 6 and actions().count("login.throttled") == 1
    failed = AuditEntry.objects.filter(action="login.failed", actor=alice)
    assert failed.count() == 5 and failed.first().details["address"] == "10.1.1.1"
    # Trying on does not grow the log.
    before = AuditEntry.objects.count()
    for _ in range(10):
        assert log_in("alice", "wrong")[1].status_code == 429
    assert AuditEntry.objects.count() == before


def test_twenty_failed_logins_lock_the_address(alice):
    for i in range(20):
        assert log_in(f"guess-{i}", "wrong", address="10.2.2.2")[1].status_code == 200
    client, answer = log_in("alice", PASSWORD, address="10.2.2.2")
    assert answer.status_code == 429 and ADDRESS_MESSAGE in answer.content.decode()
    assert not logged_in(client)
    throttled = AuditEntry.objects.get(action="login.throttled")
    assert throttled.details["scope"] == "address" and throttled.details["address"] == "10.2.2.2"
    # From another address alice gets in.
    assert logged_in(log_in("alice", PASSWORD, address="10.3.3.3")[0])


def test_a_right_password_clears_the_account_count(alice):
    for _ in range(4):
        log_in("alice", "wrong")
    assert logged_in(log_in("alice", PASSWORD)[0])
    for _ in range(4):
        assert log_in("alice", "wrong")[1].status_code == 200
    assert logged_in(log_in("alice", PASSWORD)[0])


def test_the_admin_login_is_throttled_too(admin):
    for _ in range(5):
        log_in("boss", "wrong", url="/admin/login/")
    client, answer = log_in("boss", PASSWORD, url="/admin/login/")
    assert ACCOUNT_MESSAGE in answer.content.decode() and not logged_in(client)


def test_bad_api_tokens_lock_the_address(alice):
    from accounts import tokens

    good = tokens.issue(alice).key
    for i in range(20):
        answer = Client(REMOTE_ADDR="10.4.4.4").get("/api/v1/vms/", HTTP_AUTHORIZATION=f"Token wrong-{i}")
        assert answer.status_code == 403 and answer.json()["detail"] == "Invalid token."
    answer = Client(REMOTE_ADDR="10.4.4.4").get("/api/v1/vms/", HTTP_AUTHORIZATION=f"Token {good}")
    assert answer.status_code == 429 and answer.json()["detail"] == ADDRESS_MESSAGE
    assert int(answer["Retry-After"]) > 0
    assert Client(REMOTE_ADDR="10.5.5.5").get("/api/v1/vms/", HTTP_AUTHORIZATION=f"Token {good}").status_code == 200
    assert actions().count("login.failed") == 20 and actions().count("login.throttled") == 1
    assert {e.details["via"] for e in AuditEntry.objects.filter(action="login.failed")} == {"api-token"}
