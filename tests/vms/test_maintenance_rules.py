"""Host maintenance without a fleet: who may, what placement does with such a host, what the API and
the host page answer while the job that empties it runs. (The moves: tests/vms/test_maintenance.py.)"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from jobs.choices import JobState
from jobs.models import Job
from sandbox import bootstrap
from tests.support.people import client_for, fake_host, make_user
from vms.services.placement import Need, NoHostAvailable, choose_host

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def admin():
    return make_user("boss", is_staff=True, is_superuser=True)


def test_a_host_in_maintenance_takes_no_new_vm_and_says_why(admin):
    host = fake_host()
    template = bootstrap.ensure_demo_template()
    assert _api(admin).post(f"/api/v1/hosts/{host.pk}/maintenance/").status_code == 202
    host.refresh_from_db()
    assert host.maintenance
    with pytest.raises(NoHostAvailable, match="fake-1 is in maintenance"):
        choose_host(template, Need(1, 128, 1))
    with pytest.raises(NoHostAvailable, match="fake-1 is in maintenance"):
        choose_host(template, Need(1, 128, 1), preferred=host)


def test_only_admins_and_one_job_at_a_time_and_no_leaving_while_it_runs(admin):
    host = fake_host()
    assert _api(make_user("someone")).post(f"/api/v1/hosts/{host.pk}/maintenance/").status_code == 403
    first = _api(admin).post(f"/api/v1/hosts/{host.pk}/maintenance/")
    assert first.status_code == 202
    again = _api(admin).post(f"/api/v1/hosts/{host.pk}/maintenance/")
    assert again.status_code == 409
    leave = _api(admin).delete(f"/api/v1/hosts/{host.pk}/maintenance/")
    assert leave.status_code == 409 and leave.json()["blocking_job"] == first.json()["id"]
    host.refresh_from_db()
    assert host.maintenance and Job.objects.count() == 1

    Job.objects.filter(pk=first.json()["id"]).update(state=JobState.CANCELLED, lock_target=None)
    left = _api(admin).delete(f"/api/v1/hosts/{host.pk}/maintenance/")
    assert left.status_code == 200 and left.json()["maintenance"] is False
    assert list(AuditEntry.objects.order_by("pk").values_list("action", "result")) == [
        ("host.maintenance", "ok"),
        ("host.maintenance", "refused"),
        ("host.maintenance-leave", "refused"),
        ("host.maintenance-leave", "ok"),
    ]


def test_the_host_page_enters_and_leaves_maintenance(admin):
    host = fake_host()
    page = client_for(admin)
    shown = page.get(f"/manage/hosts/{host.pk}/").content.decode()
    assert "Enter maintenance" in shown and "Leave maintenance" not in shown
    entered = page.post(f"/manage/hosts/{host.pk}/maintenance/", {"enter": "1"})
    job = Job.objects.get(kind="host.maintenance")
    assert entered.status_code == 302 and entered["Location"] == f"/jobs/{job.pk}/"
    shown = page.get(f"/manage/hosts/{host.pk}/").content.decode()
    assert "Leave maintenance" in shown and f"/jobs/{job.pk}/" in shown
    refused = page.post(f"/manage/hosts/{host.pk}/maintenance/", {"enter": "0"}, follow=True)
    assert "cancel that job first" in refused.content.decode()
    assert page.get("/manage/hosts/").status_code == 200
    assert (
        client_for(make_user("someone")).post(f"/manage/hosts/{host.pk}/maintenance/", {"enter": "1"}).status_code
        == 403
    )
