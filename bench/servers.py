"""Real processes for the live benchmarks: the ASGI web server and `manage.py watch_hosts` on the bench DB."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(extra: dict | None = None) -> dict:
    # DATABASE_URL was set by setup_django: the subprocesses share the bench database.
    return {**os.environ, "PYTHONUNBUFFERED": "1", **(extra or {})}


# uvicorn is what `make run` and docker-compose serve with; daphne is measured beside it.
SERVER = os.environ.get("BENCH_ASGI_SERVER", "uvicorn")


def _server_command(port: int, server: str) -> list[str]:
    if server == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--log-level",
            "warning",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "dashboard.asgi:application",
        ]
    return [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), "dashboard.asgi:application"]


def start_web_server(port: int, log_path: Path, server: str = SERVER) -> subprocess.Popen:
    """`<server> dashboard.asgi:application` on 127.0.0.1:<port>; returns once it accepts connections."""
    log = open(log_path, "wb")  # noqa: SIM115 (the process owns it until it exits)
    proc = subprocess.Popen(
        _server_command(port, server),
        cwd=ROOT,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{server} exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{server} did not listen within 30 s")


def start_watcher(log_path: Path, watcher_id: str = "bench") -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "watch_hosts", "--watcher-id", watcher_id],
        cwd=ROOT,
        env=_env({"LOG_LEVEL": "INFO"}),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def session_cookie(user) -> str:
    """Log the user in through Django's test client: the session row is in the shared bench DB."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"
