"""Shared pieces: a private database and queue per run, real workers, percentiles, the report file."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"


def setup_django(db_path: Path) -> None:
    """Point this process at a fresh SQLite database of its own, migrated."""
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    os.environ.setdefault("LIBVIRT_ALLOW_TEST_DRIVER", "true")  # benchmark hosts are test:/// connections
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    db_path.unlink(missing_ok=True)
    call_command("migrate", verbosity=0)


def start_workers(count: int, queue: str, log_dir: Path, concurrency: int = 1) -> list[subprocess.Popen]:
    env = {**os.environ, "CELERY_TASK_DEFAULT_QUEUE": queue}
    procs = []
    for i in range(count):
        log = open(log_dir / f"worker-{i}.log", "wb")
        procs.append(
            subprocess.Popen(
                [
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
                    "-n",
                    f"bench-{i}-{uuid.uuid4().hex[:4]}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    time.sleep(3)  # let them connect to the broker before the clock starts
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):.3f} s, p95 {percentile(values, 95):.3f} s, "
        f"mean {statistics.mean(values):.3f} s, max {max(values):.3f} s"
    )


def write_section(title: str, body: str) -> None:
    """Replace (or add) one `## title` section of docs/benchmarks.md, keeping the others."""
    text = (
        REPORT.read_text()
        if REPORT.exists()
        else "# Benchmarks\n\nMeasured on this project's 2-core machine. "
        "Each section says the command that produced it.\n"
    )
    head = f"## {title}\n"
    sections = text.split("\n## ")
    kept = [sections[0]] + [s for s in sections[1:] if not s.startswith(title + "\n")]
    REPORT.write_text("\n## ".join(kept).rstrip() + "\n\n" + head + body.strip() + "\n")


def register_over(hosts: list, uris: dict[str, str], transport: str) -> None:
    """Point the registered sandbox hosts at `uris` (by host name: SSH or TCP) and check them, so the
    same run measures both transports; stops the benchmark when a host does not answer."""
    from sandbox import bootstrap
    from vms.models import Host

    for host in hosts:
        Host.objects.filter(pk=host.pk).update(uri=uris[host.name])
        host.refresh_from_db()
    bootstrap.check_all(hosts)
    offline = [h.name for h in hosts if not h.online]
    if offline:
        raise SystemExit(f"sandbox hosts offline over {transport}: {offline} (make fleet?)")
