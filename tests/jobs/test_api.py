"""/api/v1/jobs/: visibility, actions, and the HTTP details (405, CSRF, JSON errors)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import tokens
from jobs import services
from jobs.choices import JobState
from jobs.models import Job
from tests.support.people import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.jobs.urls")]


@pytest.fixture
def alice_job(alice):
    return services.enqueue("test.steps", "tests.thing:1", alice)


def test_anonymous_is_refused(alice_job):
    response = Client().get("/api/v1/jobs/")
    assert response.status_code in (401, 403)
    assert Client().get(f"/api/v1/jobs/{alice_job.pk}/").status_code in (401, 403)


def ids(user, **query) -> list[int]:
    response = client_for(user).get("/api/v1/jobs/", query)
    assert response.status_code == 200, response.content
    return [j["id"] for j in response.json()["results"]]


def test_users_see_their_own_jobs_and_staff_see_all(alice, bob, staff, alice_job):
    bob_job = services.enqueue("test.steps", "", bob)
    assert ids(alice) == [alice_job.pk]
    assert ids(bob) == [bob_job.pk]
    assert set(ids(staff)) == {alice_job.pk, bob_job.pk}


def test_the_list_is_paginated_like_the_vm_list(alice, bob):
    Job.objects.bulk_create([Job(kind="test.steps", requested_by=alice) for _ in range(130)])
    Job.objects.create(kind="test.steps", requested_by=bob)
    client = client_for(alice)
    first = client.get("/api/v1/jobs/").json()
    assert (first["count"], len(first["results"]), first["previous"]) == (130, 100, None)
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 30 and second["next"] is None and second["previous"]
    seen = [j["id"] for j in first["results"] + second["results"]]
    assert len(set(seen)) == 130 and seen == sorted(seen, reverse=True)  # newest first, none twice
    assert len(client.get("/api/v1/jobs/", {"page_size": 5000}).json()["results"]) == 130
    assert client.get("/api/v1/jobs/", {"page": 9}).status_code == 404


def test_list_filters_by_state_kind_and_target(alice):
    queued = services.enqueue("test.steps", "tests.thing:1", alice)
    failed = Job.objects.create(kind="test.fail", target="tests.thing:2", state=JobState.FAILED, requested_by=alice)
    assert ids(alice, state="queued") == [queued.pk]
    assert ids(alice, state="failed") == [failed.pk]
    assert ids(alice, state="running") == []
    assert ids(alice, kind="test.steps") == [queued.pk]
    assert ids(alice, kind="test.fail") == [failed.pk]
    assert ids(alice, target="tests.thing:2") == [failed.pk]
    assert ids(alice, target="tests.thing:3") == []
    assert ids(alice, state="queued", kind="test.fail") == []
    assert ids(alice, state="", kind="", target="") == [failed.pk, queued.pk]  # empty: no filter


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"state": "done"}, "state", "Unknown job state 'done'; use one of: queued, running,"),
        ({"kind": "vm.fly"}, "kind", "Unknown job kind 'vm.fly'; use one of:"),
        ({"target": "42"}, "target", "'42' is not a job target; give it as app_label.model:pk."),
        ({"target": "tests.thing:1\x00"}, "target", "'tests.thing:1\x00' is not a job target"),
        ({"state": "queued\x00"}, "state", "Unknown job state 'queued\x00'"),
    ],
)
def test_a_filter_that_cannot_match_is_a_400_that_says_why(alice, alice_job, query, field, words):
    response = client_for(alice).get("/api/v1/jobs/", query)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert response.json()[field][0].startswith(words)


def test_detail_has_steps_log_and_what_you_may_do(alice, alice_job):
    body = client_for(alice).get(f"/api/v1/jobs/{alice_job.pk}/").json()
    assert body["kind"] == "test.steps"
    assert body["kind_label"] == "Three steps"
    assert body["state_label"] == "Queued"
    assert [s["name"] for s in body["steps"]] == ["first", "second", "third"]
    assert body["log"] == []
    assert body["requested_by"] == "alice"
    assert (body["can_cancel"], body["can_retry"]) == (True, False)


def test_other_users_job_is_404_even_for_actions(bob, alice_job):
    client = client_for(bob)
    assert client.get(f"/api/v1/jobs/{alice_job.pk}/").status_code == 404
    assert client.post(f"/api/v1/jobs/{alice_job.pk}/cancel/").status_code == 404
    assert Job.objects.get(pk=alice_job.pk).state == JobState.QUEUED


def test_get_on_an_action_is_405(alice, alice_job):
    assert client_for(alice).get(f"/api/v1/jobs/{alice_job.pk}/retry/").status_code == 405
    assert client_for(alice).get(f"/api/v1/jobs/{alice_job.pk}/cancel/").status_code == 405


def test_session_auth_enforces_csrf(alice, alice_job):
    client = client_for(alice, enforce_csrf_checks=True)
    refused = client.post(f"/api/v1/jobs/{alice_job.pk}/cancel/")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert Job.objects.get(pk=alice_job.pk).state == JobState.QUEUED

    client.get(f"/jobs/{alice_job.pk}/")  # any page with a form sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post(f"/api/v1/jobs/{alice_job.pk}/cancel/", headers={"X-CSRFToken": token})
    assert accepted.status_code == 200
    assert accepted.json()["state"] == "cancelled"


def test_token_auth_needs_no_csrf(alice, alice_job):
    token = tokens.issue(alice)
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"/api/v1/jobs/{alice_job.pk}/cancel/", headers={"Authorization": f"Token {token.key}"})
    assert response.status_code == 200


def test_cancel_then_retry_errors_are_json_a_person_can_act_on(alice, alice_job):
    client = client_for(alice)
    assert client.post(f"/api/v1/jobs/{alice_job.pk}/cancel/").status_code == 200
    again = client.post(f"/api/v1/jobs/{alice_job.pk}/cancel/")
    assert again.status_code == 409
    assert again.json() == {
        "detail": f"Job #{alice_job.pk} has already finished (Cancelled); there is nothing to cancel.",
        "code": "invalid_state",
    }
    retry = client.post(f"/api/v1/jobs/{alice_job.pk}/retry/")
    assert retry.status_code == 409
    assert "Only a failed job can be retried" in retry.json()["detail"]


def test_retry_a_failed_job(alice, staff):
    job = Job.objects.create(kind="test.steps", state=JobState.FAILED, requested_by=alice, attempts=1)
    response = client_for(staff).post(f"/api/v1/jobs/{job.pk}/retry/")
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["attempts"]) == ("queued", 1)


def test_retry_conflict_names_the_blocking_job(alice):
    failed = Job.objects.create(kind="test.exclusive", target="t:1", state=JobState.FAILED, requested_by=alice)
    blocking = services.enqueue("test.exclusive", "t:1", alice)
    response = client_for(alice).post(f"/api/v1/jobs/{failed.pk}/retry/")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert response.json()["blocking_job"] == blocking.pk
    assert f"Another job (#{blocking.pk}, Exclusive)" in response.json()["detail"]


def test_malformed_ids_are_404_not_500(alice, alice_job):
    client = client_for(alice)
    for bad in ("abc", "None", "1.5", "-1", "99999999999999999999999"):
        assert client.get(f"/api/v1/jobs/{bad}/").status_code == 404, bad
        assert client.post(f"/api/v1/jobs/{bad}/cancel/").status_code == 404, bad


def test_the_filter_refusal_is_in_the_callers_language(alice):
    response = client_for(alice).get("/api/v1/jobs/", {"state": "done"}, headers={"Accept-Language": "vi"})
    assert response.status_code == 400
    assert response.json()["state"][0].startswith("Trạng thái tác vụ 'done' không tồn tại")
