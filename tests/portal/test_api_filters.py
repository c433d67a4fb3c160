"""Filters of /api/v1/requests/ and /api/v1/audit/: they filter, and a value that cannot be used is a
400 that says why (never a 500: PostgreSQL refuses NUL characters, dates can be impossible)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from portal import services

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def requests(alice, admin, template):
    pending = services.submit_request(alice, template, "alice-req", 1, 128, 1)
    cancelled = services.cancel(alice, services.submit_request(alice, template, "alice-gone", 1, 128, 1))
    return pending, cancelled


def test_requests_filter_by_state(alice, requests):
    pending, cancelled = requests
    api = api_for(alice)
    assert [r["id"] for r in api.get("/api/v1/requests/", {"state": "pending"}).json()] == [pending.pk]
    assert [r["id"] for r in api.get("/api/v1/requests/", {"state": "cancelled"}).json()] == [cancelled.pk]
    assert len(api.get("/api/v1/requests/", {"state": ""}).json()) == 2


@pytest.mark.parametrize("state", ["done", "pending\x00", "PENDING"])
def test_an_unknown_request_state_is_a_400(alice, requests, state):
    response = api_for(alice).get("/api/v1/requests/", {"state": state})
    assert response.status_code == 400
    assert response.json()["state"][0].startswith(f"Unknown request state '{state}'; use one of: pending,")


def test_audit_filters(alice, requests):
    api = api_for(alice)
    assert {e["action"] for e in api.get("/api/v1/audit/", {"action": "request."}).json()} == {
        "request.submit",
        "request.cancel",
    }
    assert [e["object_name"] for e in api.get("/api/v1/audit/", {"action": "request.cancel"}).json()] == ["alice-gone"]
    assert len(api.get("/api/v1/audit/", {"since": "2000-01-01", "until": "2999-12-31"}).json()) == 3
    assert api.get("/api/v1/audit/", {"until": "2000-01-01"}).json() == []


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"since": "2024-13-45"}, "since", "Give a date as YYYY-MM-DD."),
        ({"until": "2024-02-30"}, "until", "Give a date as YYYY-MM-DD."),
        ({"since": "yesterday"}, "since", "Give a date as YYYY-MM-DD."),
        ({"actor": "alice\x00"}, "actor", "Filters cannot contain control characters."),
        ({"q": "\x00"}, "q", "Filters cannot contain control characters."),
        ({"object_id": "1\x00"}, "object_id", "Filters cannot contain control characters."),
    ],
)
def test_an_audit_filter_that_cannot_be_used_is_a_400(alice, requests, query, field, message):
    response = api_for(alice).get("/api/v1/audit/", query)
    assert (response.status_code, response.json()) == (400, {field: [message]})
