"""Serial console of a running domain through a libvirt stream (virDomainOpenConsole).

A blocking reader for commands and tests: a thread drains the stream into a buffer, because a
non-blocking stream only moves data when an event loop is registered. The watcher has its own
event-driven holder that fans one stream out to viewers.
"""

from __future__ import annotations

import threading
import time

import libvirt

from vms.hypervisor.errors import wrap
from vms.hypervisor.uris import safe_uri


class ConsoleSession:
    def __init__(self, conn: libvirt.virConnect, domain: libvirt.virDomain, force: bool = True) -> None:
        self.domain = domain
        self.name = domain.name()
        self.stream = conn.newStream(0)
        self.buffer = bytearray()
        self.closed_reason = ""
        self._lock = threading.Lock()
        flags = libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else 0
        try:
            domain.openConsole(None, self.stream, flags)
        except libvirt.libvirtError as exc:
            raise wrap(exc, f"open the serial console of '{self.name}'", safe_uri(conn.getURI())) from exc
        self._reader = threading.Thread(target=self._drain, name=f"console-{self.name}", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                data = self.stream.recv(65536)
            except libvirt.libvirtError as exc:
                self.closed_reason = exc.get_error_message() or str(exc)
                return
            if not data:
                self.closed_reason = "the console closed"
                return
            with self._lock:
                self.buffer.extend(data)

    def text(self, start: int = 0) -> str:
        with self._lock:
            return self.buffer[start:].decode(errors="replace")

    def read_until(self, needle: str, timeout: float = 30.0, start: int = 0) -> str:
        """Wait until `needle` appears after offset `start` of everything read; return it all."""
        deadline = time.monotonic() + timeout
        while needle not in self.text(start):
            if time.monotonic() > deadline or (self.closed_reason and needle not in self.text(start)):
                tail = self.text()[-300:]
                why = f" ({self.closed_reason})" if self.closed_reason else ""
                raise TimeoutError(
                    f"'{needle}' did not appear on the console of '{self.name}' within {timeout:.0f} s{why}; "
                    f"last output: {tail!r}"
                )
            time.sleep(0.05)
        return self.text()

    def write(self, text: str) -> None:
        data = text.encode()
        while data:
            sent = self.stream.send(data)
            data = data[sent:]

    def close(self) -> None:
        try:
            self.stream.abort()
        except libvirt.libvirtError:
            pass
