"""Wait for an expected state instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float, what: str, details: Callable[[], str] = str) -> object:
    """Poll `predicate` until it returns something truthy (returned); fail after `timeout` seconds.

    `what` names the awaited state in the failure ("the slot to free did not happen within 5 s");
    `details` adds whatever helps to read a failure (a log, the last value seen).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = details()
            raise AssertionError(f"{what} did not happen within {timeout} s" + (f"\n{extra}" if extra else ""))
        time.sleep(0.05)
