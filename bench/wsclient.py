"""A small RFC 6455 websocket client on an asyncio Protocol, for the websocket benchmarks.

The project has no websocket client package (`websockets`, `aiohttp` are not installed) and one
process must hold hundreds of sockets cheaply on a 2-core machine shared with the server, so this is
the minimum a browser does, with as little CPU per frame as possible (one `data_received` callback,
no stream readers): the HTTP upgrade with a session cookie and an Origin, unmasked server frames in,
masked frames out (pong, close). Each text message is stamped with `time.time()` when its bytes
arrive, before JSON parsing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from collections.abc import Callable

_CLOSED = object()


class WSClosed(Exception):
    pass


class _Protocol(asyncio.Protocol):
    def __init__(self, request: bytes, on_message: Callable[[float, dict], None] | None) -> None:
        self.request = request
        self.on_message = on_message
        self.queue: asyncio.Queue = asyncio.Queue()
        self.handshake: asyncio.Future = asyncio.get_running_loop().create_future()
        self.buf = bytearray()
        self.upgraded = False
        self.fragments = b""
        self.transport: asyncio.Transport | None = None
        self.close_code: int | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[: self.buf.find(b"\r\n")])
            del self.buf[: end + 4]
            if b" 101 " not in status:
                if not self.handshake.done():
                    self.handshake.set_exception(ConnectionError(f"upgrade refused: {status!r}"))
                self.transport.close()
                return
            self.upgraded = True
            self.handshake.set_result(None)
        buf = self.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length, offset = b1 & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                (length,) = struct.unpack_from("!H", buf, 2)
                offset = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                (length,) = struct.unpack_from("!Q", buf, 2)
                offset = 10
            if len(buf) < offset + length:
                return
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping: answer as a browser would
                self.send_frame(0xA, payload)
            elif opcode == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.transport.close()
            elif opcode in (0x0, 0x1, 0x2):
                self.fragments += payload
                if b0 & 0x80:
                    message, self.fragments = json.loads(self.fragments), b""
                    if self.on_message is not None:
                        self.on_message(now, message)
                    else:
                        self.queue.put_nowait((now, message))

    def connection_lost(self, exc) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(f"closed during the handshake: {exc!r}"))
        self.queue.put_nowait(_CLOSED)

    def send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(header + mask + masked)


class WSClient:
    def __init__(self, protocol: _Protocol) -> None:
        self.protocol = protocol

    @property
    def close_code(self) -> int | None:
        return self.protocol.close_code

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        path: str,
        cookie: str,
        timeout: float = 30,
        on_message: Callable[[float, dict], None] | None = None,
    ) -> WSClient:
        """Open and upgrade. With `on_message`, messages go to it (from the loop) instead of `recv`."""
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://{host}:{port}\r\nCookie: {cookie}\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        _transport, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: _Protocol(request, on_message), host, port), timeout
        )
        await asyncio.wait_for(protocol.handshake, timeout)
        return cls(protocol)

    def set_on_message(self, on_message: Callable[[float, dict], None]) -> None:
        self.protocol.on_message = on_message

    async def recv(self) -> tuple[float, dict]:
        """The next text message as JSON, with the wall-clock time its bytes arrived."""
        item = await self.protocol.queue.get()
        if item is _CLOSED:
            self.protocol.queue.put_nowait(_CLOSED)
            raise WSClosed(self.protocol.close_code)
        return item

    async def close(self) -> None:
        protocol = self.protocol
        if protocol.transport is None or protocol.transport.is_closing():
            return
        protocol.send_frame(0x8, struct.pack("!H", 1000))
        protocol.transport.close()
