"""Fixtures for the live-fleet tests: real watcher processes on the test database, real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.db import subprocess_database_url

MANAGE = Path(settings.BASE_DIR) / "manage.py"


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database of our own: other suites may run at the same time on this machine."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"watcher{os.getpid()}")


class WatcherProcess:
    def __init__(self, watcher_id: str, log_path: Path) -> None:
        self.watcher_id = watcher_id
        self.log_path = log_path
        env = {
            **os.environ,
            "DATABASE_URL": subprocess_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "LOG_LEVEL": "INFO",
        }
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, str(MANAGE), "watch_hosts", "--watcher-id", watcher_id],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def start_watcher(transactional_db, tmp_path):
    """Start `manage.py watch_hosts` processes; all are stopped before the database is flushed."""
    started: list[WatcherProcess] = []

    def start(watcher_id: str) -> WatcherProcess:
        process = WatcherProcess(watcher_id, tmp_path / f"{watcher_id}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def fleet_hosts(transactional_db, sandbox_uris):
    from vms.models import Host

    return [Host.objects.create(name=f"sandbox-{i}", uri=uri) for i, uri in enumerate(sandbox_uris, start=1)]
