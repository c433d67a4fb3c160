"""A domain's serial console as a non-blocking libvirt stream driven by the asyncio event loop.

No Django imports. `open` blocks (an RPC): run it in a worker thread. After that everything happens on
the event-loop thread: libvirt calls `_on_stream_event` when output is waiting, and we never block
there: output goes to `on_output`, which must only queue it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import libvirt

log = logging.getLogger(__name__)

READ_CHUNK = 65536
READABLE = libvirt.VIR_STREAM_EVENT_READABLE
WRITABLE = libvirt.VIR_STREAM_EVENT_WRITABLE
TROUBLE = libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP


class ConsoleStream:
    def __init__(self, on_output: Callable[[bytes], None], on_closed: Callable[[str], None]) -> None:
        self._on_output = on_output
        self._on_closed = on_closed
        self._stream: libvirt.virStream | None = None
        self._pending = bytearray()  # keystrokes the stream could not take yet
        self._closed = False

    def open(self, conn: libvirt.virConnect, uuid: str) -> None:
        """Take the console (FORCE: a stale holder, e.g. our own previous stream, is pushed out)."""
        dom = conn.lookupByUUIDString(uuid)
        stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        dom.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        if self._closed:  # closed while we were opening: let go at once
            stream.abort()
            return
        self._stream = stream
        stream.eventAddCallback(READABLE | TROUBLE, self._on_stream_event, None)

    def _on_stream_event(self, stream: libvirt.virStream, events: int, _opaque) -> None:
        if self._closed:
            return
        if events & READABLE:
            self._drain(stream)
        if events & WRITABLE:
            self._flush()
        if not self._closed and events & TROUBLE:
            self._finish("the console stream hung up" if events & libvirt.VIR_STREAM_EVENT_HANGUP else "stream error")

    def _drain(self, stream: libvirt.virStream) -> None:
        while not self._closed:
            try:
                data = stream.recv(READ_CHUNK)
            except libvirt.libvirtError as exc:
                self._finish(exc.get_error_message() or "read failed")
                return
            if data == -2:  # nothing more for now
                return
            if not data:  # end of stream: the guest's serial port went away (domain stopped)
                self._finish("end of console")
                return
            self._on_output(data)

    def write(self, data: bytes) -> None:
        """Queue keystrokes; sent now if the stream takes them, else when it becomes writable."""
        if self._closed or self._stream is None:
            return
        self._pending.extend(data)
        self._flush()

    def _flush(self) -> None:
        while self._pending and not self._closed:
            try:
                sent = self._stream.send(bytes(self._pending))
            except libvirt.libvirtError as exc:
                self._finish(exc.get_error_message() or "write failed")
                return
            if sent == -2:
                self._stream.eventUpdateCallback(READABLE | WRITABLE | TROUBLE)
                return
            del self._pending[:sent]
        if not self._closed:
            self._stream.eventUpdateCallback(READABLE | TROUBLE)

    def _finish(self, reason: str) -> None:
        if self._closed:
            return
        self.close()
        self._on_closed(reason)

    def close(self) -> None:
        """Let go of the console. Safe to call twice and from the event-loop thread."""
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is None:
            return
        for step in (stream.eventRemoveCallback, stream.abort):
            try:
                step()
            except libvirt.libvirtError:
                pass

    @property
    def closed(self) -> bool:
        return self._closed
