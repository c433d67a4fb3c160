"""The job list and the live job page, rendered by the server."""

from __future__ import annotations

import pytest
from django.test import Client

from jobs import services
from jobs.choices import JobState
from jobs.execution import execute
from jobs.models import Job
from tests.support.people import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.jobs.urls")]


def test_anonymous_is_sent_to_login(alice):
    job = services.enqueue("test.steps", "", alice)
    response = Client().get(f"/jobs/{job.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_detail_shows_steps_progress_error_and_the_live_script(alice, tmp_path):
    job = services.enqueue("test.fail", "tests.thing:1", alice, {"marker": str(tmp_path / "m")})
    execute(job.pk)
    page = client_for(alice).get(f"/jobs/{job.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Failing" in html
    assert 'data-step="configure"' in html
    assert "The disk could not be configured." in html
    assert "storage pool &#x27;default&#x27; is full" in html
    assert 'id="job-progress" max="100" value="33"' in html
    assert "removing the thing" in html
    assert f'data-ws-path="/ws/jobs/{job.pk}/"' in html
    assert "js/job.js" in html
    assert 'id="job-retry"' in html and 'id="job-retry" hidden' not in html


def test_other_users_job_page_is_404(alice, bob):
    job = services.enqueue("test.steps", "", alice)
    assert client_for(bob).get(f"/jobs/{job.pk}/").status_code == 404
    assert client_for(bob).post(f"/jobs/{job.pk}/cancel/").status_code == 404


def test_cancel_and_retry_forms(alice):
    job = services.enqueue("test.steps", "", alice)
    client = client_for(alice)
    assert client.get(f"/jobs/{job.pk}/cancel/").status_code == 405
    response = client.post(f"/jobs/{job.pk}/cancel/", follow=True)
    assert Job.objects.get(pk=job.pk).state == JobState.CANCELLED
    response = client.post(f"/jobs/{job.pk}/retry/", follow=True)
    assert "Only a failed job can be retried" in response.content.decode()  # shown as a message


def test_list_shows_my_jobs_and_staff_may_see_all(alice, bob, staff):
    mine = services.enqueue("test.steps", "", alice)
    theirs = services.enqueue("test.exclusive", "t:1", bob)
    html = client_for(alice).get("/jobs/").content.decode()
    assert f'/jobs/{mine.pk}/"' in html and f'/jobs/{theirs.pk}/"' not in html
    staff_html = client_for(staff).get("/jobs/", {"all": "1"}).content.decode()
    assert f'/jobs/{mine.pk}/"' in staff_html and f'/jobs/{theirs.pk}/"' in staff_html
    # ?all=1 means nothing for non-staff.
    assert f'/jobs/{theirs.pk}/"' not in client_for(alice).get("/jobs/", {"all": "1"}).content.decode()
