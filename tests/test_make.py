"""The two commands as a newcomer meets them: the address `make run` prints is the one it serves, and
`make test` stops the sandbox fleet it started (passed, failed or interrupted) but not one it found."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from sandbox.fleet import SandboxFleet

ROOT = Path(__file__).resolve().parent.parent
# Hosts of the nested `make test` runs: numbers no other fleet of the suite or a second checkout uses.
NESTED_FIRST_INDEX = settings.SANDBOX_FIRST_INDEX + 44


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


def test_make_run_serves_the_address_it_prints_without_port_in_the_environment():
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "WEB_PORT", "MAKEFLAGS", "MAKELEVEL")}
    if _port_taken(8000):
        pytest.skip("Something already listens on 127.0.0.1:8000 (a developer's `make run`?)")
    # `make run` ends with exactly this: serve the Procfile's processes (here only the web one).
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "serve", "PROCESSES=web"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        printed = proc.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", printed)
        assert match, f"make serve printed no address: {printed!r}"
        address = match.group(0)
        assert address == "http://127.0.0.1:8000", "README and docs promise 127.0.0.1:8000"
        deadline = time.monotonic() + 60
        status, last_error = None, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{address}/login/", timeout=5) as resp:  # noqa: S310 (http, checked above)
                    status = resp.status
                    break
            except OSError as exc:
                last_error = exc
                time.sleep(0.3)
        assert status == 200, f"{address}/login/ did not answer: {last_error}"
    finally:
        _kill_group(proc)


@pytest.fixture
def nested_checkout_env(tmp_path):
    """The environment of a `make test` run whose state (database, sandbox fleet) is all its own."""
    var = tmp_path / "var"
    demo = var / "demo-guest"
    demo.mkdir(parents=True)
    # The demo guest is built once per checkout; give the nested run a copy instead of a rebuild.
    for name in ("vmlinuz", "initrd.img", "demo-guest.json"):
        shutil.copy2(settings.DEMO_GUEST_DIR / name, demo / name)
    # And the installer ISO made from it (its build needs the guest's package cache, not copied).
    shutil.copytree(settings.VAR_DIR / "demo-installer", var / "demo-installer")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "DATABASE_URL")}
    env.update(
        DASHBOARD_VAR_DIR=str(var),
        SANDBOX_FIRST_INDEX=str(NESTED_FIRST_INDEX),
        HOSTS="1",
        PG_URL="postgres://postgres@127.0.0.1:1/none",  # refused at once: the PostgreSQL round is skipped
    )
    fleet = SandboxFleet(var / "sandbox", first_index=NESTED_FIRST_INDEX)
    yield env, fleet, tmp_path
    fleet.down()


def _make_test(env: dict, tests: Path, **popen) -> subprocess.Popen:
    env = {**env, "PYTEST_ARGS": f"-p no:cacheprovider -p no:django -q {tests}"}
    return subprocess.Popen(
        ["make", "--no-print-directory", "test"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **popen,
    )


@pytest.mark.sandbox
def test_make_test_stops_the_fleet_it_started_when_the_suite_fails(nested_checkout_env):
    env, fleet, tmp = nested_checkout_env
    failing = tmp / "test_fails.py"
    failing.write_text("def test_fails():\n    assert 1 == 2\n")
    proc = _make_test(env, failing)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, out
    assert "1 failed" in out, out
    assert "Stopping the sandbox fleet this run started" in out, out
    assert not fleet.running(), "the failed run left its sandbox fleet running"


@pytest.mark.sandbox
def test_make_test_stops_the_fleet_it_started_when_interrupted(nested_checkout_env):
    env, fleet, tmp = nested_checkout_env
    marker = tmp / "suite-started"
    slow = tmp / "test_slow.py"
    slow.write_text(
        "import pathlib, time\n"
        "def test_slow():\n"
        f"    pathlib.Path({str(marker)!r}).write_text('x')\n"
        "    time.sleep(300)\n"
    )
    proc = _make_test(env, slow)
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), proc.communicate()[0]
    assert fleet.running(), "the nested run should have started a fleet of its own"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
    # As long as the other runs get (300 s): on a loaded machine stopping the fleet once took over 120 s.
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, out
    assert not fleet.running(), f"the interrupted run left its sandbox fleet running:\n{out}"


@pytest.mark.sandbox
def test_make_test_leaves_alone_a_fleet_that_was_already_running(nested_checkout_env):
    env, fleet, tmp = nested_checkout_env
    fleet.up(1)
    assert fleet.running()
    passing = tmp / "test_passes.py"
    passing.write_text("def test_passes():\n    assert 2 == 2\n")
    proc = _make_test(env, passing)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "1 passed" in out, out
    assert fleet.running(), "make test stopped a fleet it had not started"
