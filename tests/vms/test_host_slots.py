"""The per-host job limit holds across clients (real Redis) and frees slots of dead holders."""

import threading
import time
import uuid

import pytest

from tests.support.wait import wait_until
from vms.services import host_slots


def test_limit_is_shared_and_released():
    host = int(uuid.uuid4().int % 10**9)
    assert host_slots.try_acquire(host, "a", 2)
    assert host_slots.try_acquire(host, "b", 2)
    assert not host_slots.try_acquire(host, "c", 2)
    assert host_slots.try_acquire(host, "a", 2), "the same holder may renew its slot"
    host_slots.release(host, "a")
    assert host_slots.try_acquire(host, "c", 2)
    host_slots.release(host, "b")
    host_slots.release(host, "c")


def test_expired_holds_free_their_slot(monkeypatch):
    host = int(uuid.uuid4().int % 10**9)
    monkeypatch.setattr(host_slots, "HOLD_SECONDS", 0.2)
    assert host_slots.try_acquire(host, "dead-worker", 1)
    assert not host_slots.try_acquire(host, "next", 1)
    # The dead worker's hold expires after HOLD_SECONDS: poll for the free slot, don't guess when.
    assert wait_until(lambda: host_slots.try_acquire(host, "next", 1), 5, "the expired hold freeing its slot")
    host_slots.release(host, "next")


def test_context_manager_waits_for_a_slot_then_gives_up():
    host = int(uuid.uuid4().int % 10**9)
    assert host_slots.try_acquire(host, "holder", 1)
    threading.Timer(0.3, host_slots.release, args=(host, "holder")).start()
    started = time.monotonic()
    with host_slots.host_slot(host, "waiter", 1, wait=5):
        assert time.monotonic() - started >= 0.25
        with pytest.raises(host_slots.HostBusy, match="1 jobs are already running"):
            with host_slots.host_slot(host, "third", 1, wait=0.3):
                pass
