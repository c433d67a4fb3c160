"""One relay per running managed VM: the VM's one libvirt console stream, fanned out to every viewer.

Output path (never waits for a viewer): stream callback -> in-memory buffer -> pump task -> Redis
scrollback (last 64 KiB, appended atomically with a byte counter) -> channel-layer group
console_group(uuid). The channel layer drops messages for a viewer whose channel is full, so a slow
browser loses output instead of stalling the others.
Input path: ConsoleConsumer publishes keystrokes on a Redis pub/sub channel per VM; the watcher's one
pattern subscription hands them to the relay of that VM, if this watcher holds it.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import time

import libvirt

from vms.groups import console_group
from vms.hypervisor.aioconsole import ConsoleStream
from vms.hypervisor.events import HostLink
from vms.watcher.store import console_open_key, scrollback_end_key, scrollback_key

log = logging.getLogger(__name__)

SCROLLBACK_BYTES = 64 * 1024
SCROLLBACK_TTL_S = 7 * 24 * 3600
# Output waiting for the pump beyond this is dropped from the front: Redis is stuck, keep the newest.
MAX_PENDING_BYTES = 256 * 1024
REOPEN_FIRST_S = 0.5
REOPEN_MAX_S = 10.0
OPEN_MARK_TTL_S = 30

# Append, count, trim to the last N bytes, refresh expiry -- in one step so a viewer reading the buffer
# and the counter together always sees them agree.
_APPEND = """
local length = redis.call('APPEND', KEYS[1], ARGV[1])
local finish = redis.call('INCRBY', KEYS[2], string.len(ARGV[1]))
local keep = tonumber(ARGV[2])
if length > keep then
  redis.call('SET', KEYS[1], redis.call('GETRANGE', KEYS[1], -keep, -1))
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return finish
"""


class ConsoleRelay:
    def __init__(self, vm_uuid: str, link: HostLink, redis, layer) -> None:
        self.vm_uuid = vm_uuid
        self._link = link
        self._redis = redis
        self._layer = layer
        self._append = redis.register_script(_APPEND)
        self._stream: ConsoleStream | None = None
        self._pending = bytearray()
        self._wake = asyncio.Event()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._task: asyncio.Task | None = None
        self._announced_closed = True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"console {self.vm_uuid}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def write(self, data: bytes) -> None:
        if self._stream is not None:
            self._stream.write(data)

    # --- stream -------------------------------------------------------------------------------
    async def _run(self) -> None:
        pump = asyncio.create_task(self._pump())
        delay = REOPEN_FIRST_S
        try:
            while True:
                ended = asyncio.Event()
                stream = ConsoleStream(self._on_output, lambda reason, ended=ended: self._on_closed(reason, ended))
                try:
                    await asyncio.to_thread(stream.open, self._link.conn, self.vm_uuid)
                except asyncio.CancelledError:
                    stream.close()  # the thread may still finish opening: the stream then lets go itself
                    raise
                except libvirt.libvirtError as exc:
                    log.info("console of %s not open: %s", self.vm_uuid, exc.get_error_message())
                else:
                    self._stream = stream
                    opened = time.monotonic()
                    await self._announce(True)
                    try:
                        await self._hold_until(ended)
                    finally:
                        self._stream = None
                        stream.close()
                    await self._announce(False)
                    if time.monotonic() - opened > REOPEN_MAX_S:
                        delay = REOPEN_FIRST_S  # it worked for a while: reopen quickly (guest reboot)
                # The relay lives while the domain runs: a stream that ended (reset, stolen) is reopened.
                await asyncio.sleep(delay)
                delay = min(delay * 2, REOPEN_MAX_S)
        finally:
            if not self._announced_closed:
                await self._announce(False)  # stopped (domain off, host lost): viewers must know
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    async def _hold_until(self, ended: asyncio.Event) -> None:
        """Wait for the stream to end, keeping the "console open" mark fresh meanwhile."""
        while not ended.is_set():
            try:
                await asyncio.wait_for(ended.wait(), OPEN_MARK_TTL_S / 3)
            except TimeoutError:
                await self._mark_open(True)

    async def _mark_open(self, is_open: bool) -> None:
        key = console_open_key(self.vm_uuid)
        if is_open:
            await self._redis.set(key, "1", ex=OPEN_MARK_TTL_S)
        else:
            await self._redis.delete(key)

    def _on_output(self, data: bytes) -> None:
        # Event-loop thread, inside libvirt's callback: only buffer and wake the pump.
        self._pending.extend(data)
        if len(self._pending) > MAX_PENDING_BYTES:
            del self._pending[: len(self._pending) - MAX_PENDING_BYTES]
        self._wake.set()

    def _on_closed(self, reason: str, ended: asyncio.Event) -> None:
        log.info("console of %s closed: %s", self.vm_uuid, reason)
        ended.set()

    # --- fan-out ------------------------------------------------------------------------------
    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                continue
            data = bytes(self._pending)
            self._pending.clear()
            try:
                end = await self._append(
                    keys=[scrollback_key(self.vm_uuid), scrollback_end_key(self.vm_uuid)],
                    args=[data, SCROLLBACK_BYTES, SCROLLBACK_TTL_S],
                )
                text = self._decoder.decode(data)
                await self._send({"type": "console.output", "vm": self.vm_uuid, "data": text, "end": int(end)})
            except Exception:  # Redis trouble: lose this chunk, keep relaying
                log.exception("console output of %s not relayed", self.vm_uuid)

    async def _announce(self, is_open: bool) -> None:
        self._announced_closed = not is_open
        try:
            await self._mark_open(is_open)
            await self._send({"type": "console.state", "vm": self.vm_uuid, "open": is_open})
        except Exception:
            log.exception("console state of %s not sent", self.vm_uuid)

    async def _send(self, payload: dict) -> None:
        await self._layer.group_send(console_group(self.vm_uuid), {"type": "broadcast", "payload": payload})
