"""Fault injection for crash-recovery tests, off unless JOBS_FAULTS is set in a worker's environment.

JOBS_FAULTS="vm.provision:start=pause:30,image.copy:upload=fail" makes the named step of that job
kind sleep (so a test can kill the worker at a known point) or fail, just before its body runs.
"""

from __future__ import annotations

import os
import time


class InjectedFault(RuntimeError):
    pass


def before_step(kind: str, step: str) -> None:
    spec = os.environ.get("JOBS_FAULTS", "")
    for item in filter(None, (part.strip() for part in spec.split(","))):
        where, _sep, what = item.partition("=")
        if where != f"{kind}:{step}":
            continue
        action, _sep, arg = what.partition(":")
        if action == "pause":
            time.sleep(float(arg or 30))
        elif action == "fail":
            raise InjectedFault(f"Injected failure before step '{step}' of {kind} (JOBS_FAULTS).")
