"""libvirt's event loop on asyncio, and a host connection that reports lifecycle events and its own loss.

No Django imports. libvirt calls the event-loop hooks from whichever thread runs an API call (the
watcher runs blocking calls in worker threads), but an asyncio loop may only be touched from its own
thread. `LoopSafeAsyncIOImpl` therefore hands every change of watched descriptors and timers to the
loop thread, in call order, without waiting for it: waiting could deadlock against libvirt's client
lock held by the calling thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import libvirt
import libvirtaio

from vms.hypervisor.connection import open_connection
from vms.hypervisor.domains import STATE_NAMES

log = logging.getLogger(__name__)


class LoopSafeAsyncIOImpl(libvirtaio.virEventAsyncIOImpl):
    """libvirtaio whose handle and timer bookkeeping always runs on the loop thread, in FIFO order."""

    def _soon(self, fn: Callable, *args: object) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the process is exiting
            pass

    # Only the identifier is made at once (libvirt needs it as the return value); the rest is deferred.
    def _add_handle(self, fd: int, event: int, cb, opaque) -> int:
        callback = libvirtaio.FDCallback(self, cb, opaque, descriptor=None, event=event)
        self._soon(self._attach_handle, callback, fd)
        return callback.iden

    def _attach_handle(self, callback: libvirtaio.FDCallback, fd: int) -> None:
        callback.descriptor = self.descriptors[fd]
        self.callbacks[callback.iden] = callback
        self._pending_inc()
        callback.descriptor.add_handle(callback)

    def _update_handle(self, watch: int, event: int) -> None:
        self._soon(super()._update_handle, watch, event)

    def _remove_handle(self, watch: int) -> int:
        self._soon(super()._remove_handle, watch)
        return 0

    def _add_timeout(self, timeout: int, cb, opaque) -> int:
        callback = libvirtaio.TimeoutCallback(self, cb, opaque)
        self._soon(self._attach_timeout, callback, timeout)
        return callback.iden

    def _attach_timeout(self, callback: libvirtaio.TimeoutCallback, timeout: int) -> None:
        self.callbacks[callback.iden] = callback
        self._pending_inc()
        callback.update(timeout=timeout)

    def _update_timeout(self, timer: int, timeout: int) -> None:
        self._soon(super()._update_timeout, timer, timeout)

    def _remove_timeout(self, timer: int) -> int:
        self._soon(super()._remove_timeout, timer)
        return 0


_registered: LoopSafeAsyncIOImpl | None = None


def register_event_loop(loop: asyncio.AbstractEventLoop | None = None) -> LoopSafeAsyncIOImpl:
    """Dispatch libvirt events on this asyncio loop. Once per process, before any connection opens."""
    global _registered
    if _registered is not None:
        if _registered.loop is not (loop or asyncio.get_running_loop()):
            raise RuntimeError("libvirt's event loop is already bound to another asyncio loop in this process")
        return _registered
    _registered = LoopSafeAsyncIOImpl(loop or asyncio.get_running_loop()).register()
    return _registered


# What a lifecycle event says about the domain's state, for when the domain cannot be asked.
EVENT_STATES = {
    libvirt.VIR_DOMAIN_EVENT_STARTED: "running",
    libvirt.VIR_DOMAIN_EVENT_RESUMED: "running",
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: "paused",
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: "paused",
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: "shutting_down",
    libvirt.VIR_DOMAIN_EVENT_STOPPED: "stopped",
    libvirt.VIR_DOMAIN_EVENT_CRASHED: "crashed",
}


@dataclass(frozen=True)
class LifecycleEvent:
    uuid: str
    name: str
    event: int
    detail: int

    @property
    def implied_state(self) -> str | None:
        """The state the event implies; None for DEFINED/UNDEFINED, which say nothing about running."""
        return EVENT_STATES.get(self.event)

    @property
    def undefined(self) -> bool:
        return self.event == libvirt.VIR_DOMAIN_EVENT_UNDEFINED


@dataclass(frozen=True)
class ObservedDomain:
    """A domain as a host reports it: what the database mirrors."""

    uuid: str
    name: str
    state: str
    vcpus: int
    memory_mib: int

    @property
    def active(self) -> bool:
        return self.state in ("running", "paused", "shutting_down")


def observe(dom: libvirt.virDomain) -> ObservedDomain:
    state, _max_kib, mem_kib, vcpus, _cpu_time = dom.info()
    return ObservedDomain(dom.UUIDString(), dom.name(), STATE_NAMES.get(state, "unknown"), vcpus, mem_kib // 1024)


class HostLink:
    """One watched connection: lifecycle events and the connection's loss, reported as callbacks.

    `open` and `close` block (RPCs): call them in a worker thread. The callbacks run on the event-loop
    thread and must not block; they get plain values, never libvirt objects.
    """

    def __init__(self, uri: str, on_event: Callable[[LifecycleEvent], None], on_lost: Callable[[str], None]) -> None:
        self.uri = uri
        self._on_event = on_event
        self._on_lost = on_lost
        self._closing = False
        self._event_id: int | None = None
        self.conn: libvirt.virConnect = open_connection(uri)  # keepalive 5 s x 3 except on test:///
        try:
            self.conn.registerCloseCallback(self._closed, None)
            self._event_id = self.conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle, None
            )
        except libvirt.libvirtError:
            self.close()
            raise

    @property
    def supports_console(self) -> bool:
        return not self.uri.startswith("test:")

    def _lifecycle(self, _conn, dom: libvirt.virDomain, event: int, detail: int, _opaque) -> None:
        self._on_event(LifecycleEvent(dom.UUIDString(), dom.name(), event, detail))

    def _closed(self, _conn, reason: int, _opaque) -> None:
        if self._closing:
            return
        reasons = {
            libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "connection error",
            libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "the daemon closed the connection",
            libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "the daemon stopped answering (keepalive)",
        }
        self._on_lost(reasons.get(reason, "connection closed"))

    def domains(self) -> list[ObservedDomain]:
        found = []
        for dom in self.conn.listAllDomains(0):
            try:
                found.append(observe(dom))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:  # undefined meanwhile: skip it
                    raise
        return found

    def domain(self, uuid: str) -> ObservedDomain | None:
        """The domain's current state, or None when the host no longer has it."""
        try:
            return observe(self.conn.lookupByUUIDString(uuid))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def close(self) -> None:
        self._closing = True
        for step in (self._deregister, self.conn.unregisterCloseCallback, self.conn.close):
            try:
                step()
            except libvirt.libvirtError:
                pass

    def _deregister(self) -> None:
        if self._event_id is not None:
            self.conn.domainEventDeregisterAny(self._event_id)
            self._event_id = None
