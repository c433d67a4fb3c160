"""Issue 13: API tokens are stored hashed, named, with a last-used time and an optional expiry, and revocable
by their owner; `Authorization: Token <key>` keeps working; `manage.py api_token` still prints one key."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def with_token(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_api_tokens_are_stored_hashed_and_shown_once(alice):
    answer = logged_in(alice).post(
        "/api/v1/me/tokens/", {"name": "ci", "expires_in_days": 30}, content_type="application/json"
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    key = body["token"]
    assert body["name"] == "ci" and body["state"] == "active" and key.startswith(body["prefix"])
    # The key is nowhere in the database: only its sha256.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        stored = repr(cursor.fetchall())
    assert key not in stored and tokens.hash_key(key) in stored
    # Listed without the key, ever.
    listed = logged_in(alice).get("/api/v1/me/tokens/").json()
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    # It works, and its last use is noted.
    assert Client().get("/api/v1/vms/", **with_token(key)).status_code == 200
    token = ApiToken.objects.get()
    assert token.last_used_at is not None and token.expires_at > timezone.now() + timedelta(days=29)
    assert AuditEntry.objects.filter(action="token.create", actor=alice, object_id=str(token.pk)).exists()


def test_a_revoked_or_expired_token_is_refused_with_the_reason(alice):
    revoked = tokens.issue(alice, "old laptop")
    expired = tokens.issue(alice, "short", expires_in_days=1)
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert logged_in(alice).delete(f"/api/v1/me/tokens/{revoked.token.pk}/").status_code == 204
    answer = Client().get("/api/v1/vms/", **with_token(revoked.key))
    assert answer.status_code in (401, 403) and "revoked" in answer.json()["detail"]
    answer = Client().get("/api/v1/vms/", **with_token(expired.key))
    assert answer.status_code in (401, 403) and "expired" in answer.json()["detail"]
    assert AuditEntry.objects.filter(action="token.revoke", actor=alice).count() == 1
    refused = AuditEntry.objects.filter(action="login.failed", actor=alice)
    assert sorted(e.details["reason"] for e in refused) == ["expired", "revoked"]


def test_only_the_owner_sees_and_revokes_a_token(alice, bob):
    issued = tokens.issue(alice, "mine")
    assert logged_in(bob).get("/api/v1/me/tokens/").json() == []
    assert logged_in(bob).delete(f"/api/v1/me/tokens/{issued.token.pk}/").status_code == 404
    assert Client().get("/api/v1/vms/", **with_token(issued.key)).status_code == 200
    # A token may revoke itself.
    assert Client().delete(f"/api/v1/me/tokens/{issued.token.pk}/", **with_token(issued.key)).status_code == 204
    assert Client().get("/api/v1/vms/", **with_token(issued.key)).status_code in (401, 403)


def test_token_input_is_checked(alice):
    api = logged_in(alice)
    too_long = api.post("/api/v1/me/tokens/", {"expires_in_days": 0}, content_type="application/json")
    assert too_long.status_code == 400 and "expires_in_days" in too_long.json()
    unnamed = api.post("/api/v1/me/tokens/", {}, content_type="application/json")
    assert unnamed.status_code == 201 and unnamed.json()["name"] == tokens.DEFAULT_NAME
    assert Client().get("/api/v1/me/tokens/").status_code == 403


def test_api_token_command_prints_one_new_key(alice):
    out = io.StringIO()
    call_command("api_token", "alice", "--name", "deploy", "--expires-days", "7", stdout=out)
    key = out.getvalue().strip()
    assert "\n" not in key and key.startswith(tokens.KEY_PREFIX)
    token = ApiToken.objects.get(name="deploy")
    assert token.user == alice and timezone.now() + timedelta(days=6) < token.expires_at
    assert Client().get("/api/v1/vms/", **with_token(key)).status_code == 200
    entry = AuditEntry.objects.get(action="token.create")
    assert entry.details["via"] == "manage.py api_token" and entry.details["user"] == "alice"
    # Each run makes another token (a key is never kept, so it cannot be printed again).
    again = io.StringIO()
    call_command("api_token", "alice", stdout=again)
    assert again.getvalue().strip() != key and ApiToken.objects.filter(user=alice).count() == 2
    with pytest.raises(CommandError, match="No user named"):
        call_command("api_token", "nobody", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("api_token", "alice", "--expires-days", "0", stdout=io.StringIO())
