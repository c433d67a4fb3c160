"""At most Host.max_concurrent_jobs jobs act on one host at once, across every worker.

A counting semaphore in Redis: a sorted set of job ids scored by when their hold expires, so a
worker that dies mid-job frees its slot by itself after HOLD_SECONDS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

HOLD_SECONDS = 600
WAIT_SECONDS = 120

# Drop expired holds, then take a slot if one is free; atomic, so two workers never both get the last.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  return 1
end
return 0
"""


class HostBusy(Exception):
    pass


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _key(host_id: int) -> str:
    return f"kvmdash:host-slots:{host_id}"


def try_acquire(host_id: int, holder: str, limit: int, client: redis.Redis | None = None) -> bool:
    client = client or _client()
    now = time.time()
    return bool(client.eval(_ACQUIRE, 1, _key(host_id), now, now + HOLD_SECONDS, holder, limit))


def release(host_id: int, holder: str, client: redis.Redis | None = None) -> None:
    (client or _client()).zrem(_key(host_id), holder)


@contextmanager
def host_slot(host_id: int, holder: str, limit: int, wait: float = WAIT_SECONDS) -> Iterator[None]:
    client = _client()
    deadline = time.monotonic() + wait
    while not try_acquire(host_id, holder, limit, client):
        if time.monotonic() > deadline:
            raise HostBusy(f"{limit} jobs are already running on this host")
        time.sleep(0.2)
    try:
        yield
    finally:
        release(host_id, holder, client)
