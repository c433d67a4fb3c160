"""Real Celery workers for tests: a subprocess on a private queue, against the test database file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from django.conf import settings

from jobs.choices import FINISHED
from jobs.models import Job
from tests.support.db import subprocess_database_url

BASE_DIR = Path(settings.BASE_DIR)
VISIBILITY_TIMEOUT = 5


def start_worker(queue: str, log_path: Path, concurrency: int = 1, extra_env: dict | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "JOBS_EXTRA_RUNNER_MODULES": "tests.jobs.runners",
        # A worker that dies unacked gets its message back within seconds, not an hour.
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "dashboard",
        "worker",
        "-Q",
        queue,
        "--concurrency",
        str(concurrency),
        "-P",
        "prefork",
        "-n",
        f"{queue}-{uuid.uuid4().hex[:4]}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]
    with open(log_path, "ab") as log_file:
        # Its own session, so a test can kill the worker and its pool children together.
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    process.log_path = log_path
    if os.environ.get("JOBS_TEST_KEEP_WORKER_LOG"):
        print(f"worker log: {log_path}")
    return process


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def forget_queue(queue: str) -> None:
    """Leave nothing of a private queue behind in the shared Redis."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


def wait_for(job: Job, worker, predicate=lambda job: job.state in FINISHED, timeout: float = 40) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if predicate(job):
            return job
        assert worker.poll() is None, f"worker exited:\n{worker.log_path.read_text()[-4000:]}"
        time.sleep(0.1)
    raise AssertionError(
        f"job #{job.pk} is {job.state} after {timeout}s\nlog: {job.log}\nworker:\n{worker.log_path.read_text()[-4000:]}"
    )
