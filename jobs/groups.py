"""Channel-layer group of one job: its progress, log lines and end are sent there."""

from __future__ import annotations


def job_group(job_id: int) -> str:
    return f"job.{job_id}"
