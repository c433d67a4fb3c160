"""Browser tests: chromium (Debian's, through Playwright) against uvicorn, a real worker and the watcher.

pytest-django's live_server serves no websockets, so the dashboard runs as `uvicorn dashboard.asgi:application`
in a subprocess on the test database file, like the worker (tests/support/worker.py) and the watcher.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.vms.conftest import demo_template, fleet_hosts, vm_worker, vm_worker_queue  # noqa: F401 (fixtures)

BASE_DIR = Path(settings.BASE_DIR)
OUTPUT = BASE_DIR / "test-output" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database of our own: other suites may run at the same time on this machine."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"browser{os.getpid()}")


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def _env(extra: dict | None = None) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "LOG_LEVEL": "INFO",
        **(extra or {}),
    }


@pytest.fixture
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


def start_web_server(log_dir: Path, queue: str) -> Process:
    """uvicorn on a free port, answering; jobs it queues go to `queue`. `.url` is its address."""
    port = _free_port()
    process = Process(
        "uvicorn",
        # The same server as the Procfile's web process.
        [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "dashboard.asgi:application"],
        _env({"CELERY_TASK_DEFAULT_QUEUE": queue}),
        log_dir,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.proc.poll() is not None or time.monotonic() > deadline:
                process.stop()
                raise AssertionError(f"the web server did not start:\n{process.log()}") from None
            time.sleep(0.2)
    process.url = f"http://127.0.0.1:{port}"
    return process


@pytest.fixture
def web_server(transactional_db, tmp_path, vm_worker_queue):  # noqa: F811
    """The web server on the test database; jobs it queues go to the test worker's private queue."""
    process = start_web_server(tmp_path, vm_worker_queue)
    yield process
    process.stop()


@pytest.fixture
def watcher(transactional_db, tmp_path):
    if not (BASE_DIR / "vms" / "management" / "commands" / "watch_hosts.py").exists():
        pytest.skip("manage.py watch_hosts does not exist yet")
    process = Process(
        "watcher",
        [sys.executable, "manage.py", "watch_hosts", "--watcher-id", f"browser-{os.getpid()}"],
        _env(),
        tmp_path,
    )
    yield process
    process.stop()


@pytest.fixture
def browser(monkeypatch):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own database calls
    # are still plain synchronous ones, one at a time, so Django's guard may stand aside.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
