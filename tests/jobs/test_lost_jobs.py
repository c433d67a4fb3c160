"""fail_lost_jobs: a running job without a sign of life is failed after its runner's cleanup, and the
attempt that was presumed dead can no longer write (issue 13 item 7; with a real worker and VM:
tests/vms/test_lost_jobs.py). Time is moved through settings.JOBS_LOST_AFTER."""

from __future__ import annotations

import pytest
from django.utils import translation

from jobs import services
from jobs.choices import JobState
from jobs.context import JobSuperseded
from jobs.execution import _claim, fail_lost_jobs, lost_after
from jobs.models import Job
from jobs.registry import get_runner

pytestmark = pytest.mark.django_db

LOST = "The worker running this job stopped and the job was lost; retry it."


def test_a_running_job_without_a_sign_of_life_is_failed_cleaned_up_and_fenced_off(alice, settings, tmp_path):
    marker = tmp_path / "cleaned"
    with translation.override("en"):  # the requester's language is the job's (pages tests may leave "vi" active)
        job = services.enqueue("test.fail", "tests.thing:1", alice, {"marker": str(marker)})
    ctx = _claim(job, get_runner("test.fail"), worker="w1@host")  # a worker took it ...
    with ctx.step("create"):
        pass
    job.refresh_from_db()
    assert (job.state, job.worker, job.attempts) == (JobState.RUNNING, "w1@host", 1)
    assert job.heartbeat_at is not None

    settings.JOBS_LOST_AFTER = 3600
    assert fail_lost_jobs() == []  # ... and was heard from a moment ago
    settings.JOBS_LOST_AFTER = 0  # ... and then nothing more

    assert [j.pk for j in fail_lost_jobs()] == [job.pk]
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error == {"step": "", "message": LOST, "host_message": ""}
    assert marker.read_text() == "cleaned"  # the runner's on_failure ran
    assert (job.attempts, job.lock_target, job.worker) == (2, None, "")
    assert fail_lost_jobs() == []

    # The worker was only slow: whatever it writes now matches nothing, so it stops.
    with pytest.raises(JobSuperseded):
        ctx.log("still here")
    assert "still here" not in [e["message"] for e in Job.objects.get(pk=job.pk).log]


def test_lost_after_defaults_to_past_the_visibility_timeout(settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    assert lost_after() > 3600
    settings.JOBS_LOST_AFTER = 12
    assert lost_after() == 12
