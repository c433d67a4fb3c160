"""Serial console of a running domain through a libvirt stream (virDomainOpenConsole).

This blocking reader serves commands and tests; the watcher fans one stream out to viewers.
"""

from __future__ import annotations

import time

import libvirt

from vms.hypervisor.errors import HypervisorError, wrap


class ConsoleSession:
    def __init__(self, conn: libvirt.virConnect, domain: libvirt.virDomain, force: bool = True) -> None:
        self.domain = domain
        self.stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        self.buffer = bytearray()
        flags = libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else 0
        try:
            domain.openConsole(None, self.stream, flags)
        except libvirt.libvirtError as exc:
            raise wrap(exc, f"open the serial console of '{domain.name()}'", conn.getHostname()) from exc

    def _pump(self) -> bool:
        """Move what the stream has into the buffer; False when nothing was there."""
        try:
            data = self.stream.recv(65536)
        except libvirt.libvirtError as exc:
            raise wrap(exc, f"read the console of '{self.domain.name()}'", "its host") from exc
        if data == -2 or data is None:  # -2: would block
            return False
        if isinstance(data, bytes):
            if not data:
                raise HypervisorError(f"read the console of '{self.domain.name()}'", "its host", "the console closed")
            self.buffer.extend(data)
            return True
        return False

    def read_until(self, needle: str, timeout: float = 30.0, start: int = 0) -> str:
        """Wait until `needle` appears after offset `start` of everything read; return all text."""
        target = needle.encode()
        deadline = time.monotonic() + timeout
        while target not in self.buffer[start:]:
            if time.monotonic() > deadline:
                tail = self.buffer[-300:].decode(errors="replace")
                raise TimeoutError(f"'{needle}' did not appear on the console within {timeout:.0f} s; last output: {tail!r}")
            if not self._pump():
                time.sleep(0.05)
        return self.buffer.decode(errors="replace")

    def write(self, text: str) -> None:
        data = text.encode()
        while data:
            sent = self.stream.send(data)
            if sent == -2:
                time.sleep(0.01)
                continue
            data = data[sent:]

    def close(self) -> None:
        try:
            self.stream.finish()
        except libvirt.libvirtError:
            try:
                self.stream.abort()
            except libvirt.libvirtError:
                pass
