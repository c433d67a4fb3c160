"""The watcher process: which hosts it holds (leases), and a HostWatch for each.

Every tick (1 s): announce itself and renew its leases (every ~4 s), reload the enabled hosts from the
database (every ~5 s), drop hosts that were removed, disabled or lost, hand over a host when it holds
more than its fair share, and try to take free hosts up to that share. Its hosts' console relays
receive keystrokes through one Redis pattern subscription.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.exceptions
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from live.redis import async_redis
from vms.hypervisor.events import register_event_loop
from vms.watcher import observed
from vms.watcher.host import HostWatch, WatchContext, WatchSettings
from vms.watcher.leases import LEASE_TTL_MS, RENEW_EVERY_S, LeaseBook, fair_share, new_watcher_id
from vms.watcher.store import CONSOLE_INPUT_PATTERN

log = logging.getLogger(__name__)

TICK_S = 1.0
RELOAD_EVERY_S = 5.0
# Stop watching a host this long after the last successful renewal: by then another may hold it.
LEASE_SAFETY_S = LEASE_TTL_MS / 1000 - 2.0


class Watcher:
    def __init__(self, watcher_id: str | None = None, settings: WatchSettings | None = None) -> None:
        self.watcher_id = watcher_id or new_watcher_id()
        self.settings = settings or WatchSettings()
        self.hosts: dict[int, observed.WatchedHost] = {}
        self.watches: dict[int, HostWatch] = {}
        self._renewed_at: dict[int, float] = {}

    async def run(self, stop: asyncio.Event) -> None:
        register_event_loop()  # before the first connection opens
        client = async_redis()
        self.leases = LeaseBook(client, self.watcher_id)
        self.ctx = WatchContext(redis=client, layer=get_channel_layer(), settings=self.settings)
        keystrokes = asyncio.create_task(self._relay_keystrokes(client))
        log.info("watcher %s started", self.watcher_id)
        next_reload = next_renew = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                try:
                    if now >= next_reload:
                        self.hosts = {h.id: h for h in await database_sync_to_async(observed.watchable_hosts)()}
                        next_reload = now + RELOAD_EVERY_S
                    if now >= next_renew:
                        await self._renew(now)
                        next_renew = now + RENEW_EVERY_S
                    await self._drop_unwanted()
                    await self._balance()
                except (redis.exceptions.RedisError, OSError) as exc:
                    log.warning("watcher %s: Redis trouble: %s", self.watcher_id, exc)
                await self._drop_stale(time.monotonic())
                try:
                    await asyncio.wait_for(stop.wait(), TICK_S)
                except TimeoutError:
                    pass
        finally:
            keystrokes.cancel()
            for host_id in list(self.watches):
                await self._let_go(host_id)
            try:
                await self.leases.retire()
            except (redis.exceptions.RedisError, OSError):
                pass
            log.info("watcher %s stopped", self.watcher_id)

    # --- leases -----------------------------------------------------------------------------------
    async def _renew(self, now: float) -> None:
        await self.leases.announce()
        for host_id in list(self.watches):
            if await self.leases.renew(host_id):
                self._renewed_at[host_id] = now
            else:
                log.warning("watcher %s lost the lease of host %s", self.watcher_id, host_id)
                await self._stop_watch(host_id)

    async def _drop_stale(self, now: float) -> None:
        for host_id in list(self.watches):
            if now - self._renewed_at.get(host_id, now) > LEASE_SAFETY_S:
                log.warning("watcher %s could not renew host %s in time; letting it go", self.watcher_id, host_id)
                await self._stop_watch(host_id)

    async def _drop_unwanted(self) -> None:
        for host_id, watch in list(self.watches.items()):
            host = self.hosts.get(host_id)
            if host is None or host.uri != watch.host.uri:  # removed, disabled, or pointed elsewhere
                await self._let_go(host_id)

    async def _balance(self) -> None:
        share = fair_share(len(self.hosts), await self.leases.live_watchers())
        if len(self.watches) > share:
            # One per tick, so a joining watcher takes hosts over gradually instead of all at once.
            await self._let_go(max(self.watches))
            return
        for host_id in sorted(self.hosts):
            if len(self.watches) >= share:
                break
            if host_id not in self.watches and await self.leases.acquire(host_id):
                self._start_watch(self.hosts[host_id])

    # --- host watches -------------------------------------------------------------------------------
    def _start_watch(self, host: observed.WatchedHost) -> None:
        log.info("watcher %s takes host %s", self.watcher_id, host.name)
        watch = HostWatch(host, self.ctx)
        self.watches[host.id] = watch
        self._renewed_at[host.id] = time.monotonic()
        watch.start()

    async def _stop_watch(self, host_id: int) -> None:
        watch = self.watches.pop(host_id, None)
        self._renewed_at.pop(host_id, None)
        if watch is not None:
            await watch.stop()

    async def _let_go(self, host_id: int) -> None:
        """Stop first, then release: the next holder must not overlap with us on the host."""
        await self._stop_watch(host_id)
        try:
            await self.leases.release(host_id)
        except (redis.exceptions.RedisError, OSError):
            pass  # it expires by itself

    # --- console input ------------------------------------------------------------------------------
    async def _relay_keystrokes(self, client) -> None:
        while True:
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(CONSOLE_INPUT_PATTERN)
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is None:
                            continue
                        vm_uuid = message["channel"].decode().rsplit(":", 1)[-1]
                        relay = self.ctx.relays.get(vm_uuid)
                        if relay is not None:
                            relay.write(message["data"])
            except (redis.exceptions.RedisError, OSError) as exc:
                log.warning("console input subscription broke: %s", exc)
                await asyncio.sleep(1.0)


async def run_watcher(watcher_id: str | None = None, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (the command sets it on SIGTERM/SIGINT)."""
    await Watcher(watcher_id).run(stop or asyncio.Event())
