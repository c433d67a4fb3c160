"""Watching one host: connect with backoff, resync, follow lifecycle events, sample stats, hold consoles.

Every blocking libvirt call runs in a worker thread, so one hung daemon never delays the other hosts;
database work runs through database_sync_to_async. libvirt callbacks (events, connection loss) run on
the loop thread and only queue work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

import libvirt
from channels.db import database_sync_to_async

from vms.groups import vm_group
from vms.hypervisor import addresses, ssh
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.events import HostLink, LifecycleEvent, ObservedDomain
from vms.hypervisor.hostinfo import describe_host
from vms.hypervisor.stats import DomainSample, collect, rates
from vms.hypervisor.tunnel import TunnelError, run_fixed
from vms.watcher import observed
from vms.watcher.consoles import ConsoleRelay
from vms.watcher.store import stats_key

log = logging.getLogger(__name__)

STATS_POINTS = 60
STATS_TTL_S = 3600


@dataclass
class WatchSettings:
    stats_every: float = 5.0
    resync_every: float = 60.0
    # Guest addresses change rarely (a DHCP lease), but a person waits for the first one after a boot.
    addresses_every: float = 10.0
    reconnect_first: float = 0.5
    reconnect_max: float = 10.0


@dataclass
class WatchContext:
    """What all host watches of one watcher share."""

    redis: object
    layer: object
    settings: WatchSettings = field(default_factory=WatchSettings)
    relays: dict[str, ConsoleRelay] = field(default_factory=dict)  # by VM UUID, for console input


async def in_db(fn, *args):
    """Run database work in its thread; if we are cancelled meanwhile, let it finish first.

    Cancelling only the await would leave the thread writing (and broadcasting through this loop)
    after the watcher stopped.
    """
    task = asyncio.ensure_future(database_sync_to_async(fn)(*args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.gather(task, return_exceptions=True)
        raise


class HostWatch:
    def __init__(self, host: observed.WatchedHost, ctx: WatchContext) -> None:
        self.host = host
        self.ctx = ctx
        self._task: asyncio.Task | None = None
        self._relays: dict[str, ConsoleRelay] = {}
        self._previous: dict[str, DomainSample] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"host {self.host.name}")

    async def stop(self) -> None:
        """Stop watching (lease handed over or lost, host disabled, exit). The host stays as last seen."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # --- connection -----------------------------------------------------------------------------
    async def _run(self) -> None:
        delay = self.ctx.settings.reconnect_first
        while True:
            events: asyncio.Queue[LifecycleEvent] = asyncio.Queue()
            lost = asyncio.Event()
            reason = ["connection closed"]

            def on_lost(why: str, lost: asyncio.Event = lost, reason: list = reason) -> None:
                reason[0] = why
                lost.set()

            try:
                link = await asyncio.to_thread(HostLink, self.host.uri, events.put_nowait, on_lost)
            except (HypervisorError, libvirt.libvirtError) as exc:
                await in_db(observed.mark_host_offline, self.host.id, str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.ctx.settings.reconnect_max)
                continue
            delay = self.ctx.settings.reconnect_first
            try:
                await self._serve(link, events, lost)
            except (HypervisorError, libvirt.libvirtError) as exc:
                reason[0] = str(exc)
            finally:
                await self._drop_consoles()
                await asyncio.to_thread(link.close)
            log.warning("host %s lost: %s", self.host.name, reason[0])
            await in_db(observed.mark_host_offline, self.host.id, reason[0])
            await asyncio.sleep(delay)

    async def _serve(self, link: HostLink, events: asyncio.Queue, lost: asyncio.Event) -> None:
        facts = await asyncio.to_thread(describe_host, link.conn)
        await in_db(observed.mark_host_online, self.host.id, facts)
        await self._resync(link)
        log.info("watching host %s (%s)", self.host.name, self.host.uri)
        workers = [
            asyncio.create_task(self._follow_events(link, events)),
            asyncio.create_task(self._sample_stats(link)),
            asyncio.create_task(self._resync_now_and_then(link)),
            asyncio.create_task(self._read_addresses(link)),
        ]
        try:
            await lost.wait()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    # --- state ----------------------------------------------------------------------------------
    async def _resync(self, link: HostLink) -> None:
        domains = await asyncio.to_thread(link.domains)
        seen = await in_db(observed.resync_host, self.host.id, domains)
        for observation in seen:
            await self._hold_console_if_wanted(link, observation)

    async def _resync_now_and_then(self, link: HostLink) -> None:
        """Events are the fast path; a periodic full resync repairs anything an event could not."""
        while True:
            await asyncio.sleep(self.ctx.settings.resync_every)
            try:
                await self._resync(link)
            except (HypervisorError, libvirt.libvirtError) as exc:
                log.warning("resync of %s failed: %s", self.host.name, exc)

    async def _follow_events(self, link: HostLink, events: asyncio.Queue) -> None:
        # One at a time, in arrival order: a start and a stop a moment apart must land in that order.
        while True:
            event = await events.get()
            try:
                domain = await asyncio.to_thread(link.domain, event.uuid)
            except libvirt.libvirtError:
                # Cannot ask the host right now: trust what the event says, if it says anything.
                if event.implied_state is None:
                    continue
                domain = ObservedDomain(event.uuid, event.name, event.implied_state, 0, 0)
            observation = await in_db(observed.apply_observation, self.host.id, event.uuid, domain)
            if observation is not None:
                await self._hold_console_if_wanted(link, observation)

    # --- consoles ---------------------------------------------------------------------------------
    async def _hold_console_if_wanted(self, link: HostLink, observation: observed.VMObservation) -> None:
        # Only managed VMs: taking the console of a domain someone else runs would cut them off.
        wanted = observation.active and observation.managed and link.supports_console
        relay = self._relays.get(observation.uuid)
        if wanted and relay is None:
            relay = ConsoleRelay(observation.uuid, link, self.ctx.redis, self.ctx.layer)
            self._relays[observation.uuid] = relay
            self.ctx.relays[observation.uuid] = relay
            relay.start()
        elif not wanted and relay is not None:
            await self._drop_console(observation.uuid)

    async def _drop_console(self, vm_uuid: str) -> None:
        relay = self._relays.pop(vm_uuid, None)
        if relay is not None:
            if self.ctx.relays.get(vm_uuid) is relay:
                del self.ctx.relays[vm_uuid]
            await relay.stop()

    async def _drop_consoles(self) -> None:
        for vm_uuid in list(self._relays):
            await self._drop_console(vm_uuid)

    # --- guest addresses --------------------------------------------------------------------------
    async def _read_addresses(self, link: HostLink) -> None:
        """What each running guest's address is, as the host can tell (vms/hypervisor/addresses.py),
        kept in Redis for the VM page: pages never ask a host while they render."""
        while True:
            try:
                guests = await asyncio.to_thread(addresses.from_libvirt, link.conn)
                if addresses.missing_any(guests) and ssh.ssh_target(self.host.uri) is not None:
                    identity = ssh.identity()
                    if identity is not None:
                        try:
                            table = await run_fixed(self.host.uri, identity, addresses.NEIGHBOUR_COMMAND)
                            addresses.add_neighbours(guests, table)
                        except TunnelError as exc:
                            log.info("neighbour table of %s not read: %s", self.host.name, exc)
                changed = await in_db(observed.record_addresses, self.host.id, guests)
                try:
                    for vm_uuid, payload in changed or []:
                        await self.ctx.layer.group_send(vm_group(vm_uuid), {"type": "broadcast", "payload": payload})
                except Exception:  # the page's live update is a convenience: never stop watching for it
                    log.exception("guest addresses of %s not published", self.host.name)
            except libvirt.libvirtError as exc:
                log.info("guest addresses on %s not read: %s", self.host.name, exc.get_error_message())
            await asyncio.sleep(self.ctx.settings.addresses_every)

    # --- stats ------------------------------------------------------------------------------------
    async def _sample_stats(self, link: HostLink) -> None:
        while True:
            await asyncio.sleep(self.ctx.settings.stats_every)
            try:
                samples = await asyncio.to_thread(collect, link.conn)
            except libvirt.libvirtError as exc:
                log.info("stats of %s not read: %s", self.host.name, exc.get_error_message())
                continue
            await self._publish_stats(samples)
            await in_db(observed.touch_host, self.host.id)

    async def _publish_stats(self, samples: list[DomainSample]) -> None:
        now = time.time()
        current = {}
        pipe = self.ctx.redis.pipeline(transaction=False)
        messages = []
        for sample in samples:
            point = {"at": round(now, 1), **rates(self._previous.get(sample.uuid), sample)}
            current[sample.uuid] = sample
            key = stats_key(sample.uuid)
            pipe.lpush(key, json.dumps(point)).ltrim(key, 0, STATS_POINTS - 1).expire(key, STATS_TTL_S)
            messages.append((sample.uuid, {"type": "vm.stats", "vm": sample.uuid, "host": self.host.id, **point}))
        self._previous = current  # domains that stopped drop out: their next start begins afresh
        try:
            if samples:
                await pipe.execute()
            for vm_uuid, payload in messages:
                await self.ctx.layer.group_send(vm_group(vm_uuid), {"type": "broadcast", "payload": payload})
        except Exception:  # sparklines are a convenience: never stop watching for them
            log.exception("stats of %s not published", self.host.name)
