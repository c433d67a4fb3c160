"""Host leases in Redis: each host is watched by exactly one watcher at a time.

A lease is a key `SET NX PX` holding the watcher's id; its holder renews it every few seconds. A dead
watcher stops renewing, the key expires, and another watcher takes the host on its next attempt.
Renew and release are compare-and-act scripts, so a watcher never extends or deletes a lease that
expired and went to someone else. Live watchers announce themselves the same way (a key with a TTL),
so each can take its fair share of the hosts and hand over the rest.
"""

from __future__ import annotations

import math
import os
import socket
import uuid

import redis.asyncio as aioredis

from live.redis import sync_redis
from vms.watcher.store import lease_key, watcher_key, watcher_pattern

LEASE_TTL_MS = 10_000
RENEW_EVERY_S = 3.0

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def new_watcher_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def fair_share(host_count: int, watcher_count: int) -> int:
    return math.ceil(host_count / max(watcher_count, 1))


class LeaseBook:
    """The leases of one watcher (async; used inside the watcher's event loop)."""

    def __init__(self, client: aioredis.Redis, watcher_id: str, ttl_ms: int = LEASE_TTL_MS) -> None:
        self.redis = client
        self.watcher_id = watcher_id
        self.ttl_ms = ttl_ms
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def announce(self) -> None:
        """Say this watcher is alive (for fair shares); expires with the leases if we die."""
        await self.redis.set(watcher_key(self.watcher_id), "1", px=self.ttl_ms)

    async def live_watchers(self) -> int:
        count = 0
        async for _key in self.redis.scan_iter(match=watcher_pattern(), count=100):
            count += 1
        return max(count, 1)

    async def acquire(self, host_id: int) -> bool:
        return bool(await self.redis.set(lease_key(host_id), self.watcher_id, nx=True, px=self.ttl_ms))

    async def renew(self, host_id: int) -> bool:
        """False when the lease is no longer ours (expired, taken): stop watching that host at once."""
        return bool(await self._renew(keys=[lease_key(host_id)], args=[self.watcher_id, self.ttl_ms]))

    async def release(self, host_id: int) -> None:
        await self._release(keys=[lease_key(host_id)], args=[self.watcher_id])

    async def retire(self) -> None:
        await self.redis.delete(watcher_key(self.watcher_id))


def lease_holder(host_id: int) -> str | None:
    """Which watcher holds the host now (for pages, commands and tests)."""
    value = sync_redis().get(lease_key(host_id))
    return value.decode() if value else None
