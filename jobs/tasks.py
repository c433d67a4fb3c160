"""The one Celery task. Thin on purpose: Celery is transport, the Job row is what people see.

acks_late + reject_on_worker_lost: a worker killed mid-job leaves its message unacknowledged, so
the broker delivers it again and the next attempt resumes the job (runners are idempotent).
"""

from __future__ import annotations

from celery import shared_task

from jobs.execution import execute


@shared_task(
    bind=True,
    name="jobs.run_job",
    acks_late=True,
    reject_on_worker_lost=True,
    # The retry budget is the runner's (Runner.max_retries), applied in jobs/execution.py.
    max_retries=None,
    ignore_result=True,
)
def run_job(self, job_id: int) -> str:
    outcome = execute(job_id, retries_done=self.request.retries, worker=self.request.hostname or "")
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in, queue=outcome.queue or None)
    return outcome.state
