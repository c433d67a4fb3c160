"""/ws/vms/<uuid>/vnc/ and /ws/vms/<uuid>/spice/: a VM's VNC or SPICE display, relayed byte for byte
between the browser and the host.

The browser runs noVNC (the RFB protocol) over binary websocket frames; this consumer opens a TCP
connection to the port QEMU listens on (read from the live domain XML through the VM's host
connection, in a worker thread) and copies bytes both ways. It does not parse RFB.
SpiceConsumer does the same for spice-html5: SPICE opens one websocket per SPICE channel (main, display,
inputs, cursor...), each its own TCP connection to the same port, all with the same ticket (which a
SPICE ticket allows for a few seconds, see console_tokens). TLS ports are not relayed.

Who may connect: a logged-in user (else 4401) who may *operate* the VM (else 4403) and who brings a
fresh console ticket for that VM in `?token=` (else 4403; see vms/services/console_tokens.py).
Operating, not just viewing: RFB mixes keyboard and mouse input into the same stream as the picture,
and a relay that does not parse RFB cannot drop input, so a view-only share gets no graphical console.
A VM that is not running or has no VNC display closes with 4404; a host or display that cannot be
reached with 1011. Every close carries a reason the page shows: in the close frame, and first in a text
frame `{"type": "closing", "code", "reason"}`, because daphne (4.2) drops the close frame's reason.
RFB itself never uses text frames, and noVNC ignores one (it reads it as zero bytes). spice-html5
would not (it treats every frame as an ArrayBuffer): SPICE sockets get the close frame only.

Logout closes the socket (SessionSocket); input also re-checks that the session still exists.

Backpressure: the display is read in chunks of at most CHUNK_BYTES and each chunk's send is awaited
before the next read, so nothing piles up here; browser input is written with `drain()` awaited before
the next frame is taken. How far an `await send` waits for the browser depends on the ASGI server
(uvicorn with `websockets` waits for its write buffer to drain; daphne hands frames to Twisted's
transport, which buffers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid as uuid_lib
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.utils.translation import gettext as _

from live.sockets import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, SessionSocket
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.graphics import connect_address, live_graphics
from vms.models import VirtualMachine
from vms.permissions import can_operate_vm
from vms.services import console_tokens

log = logging.getLogger(__name__)

CLOSE_NO_GRAPHICS = 4404
CLOSE_UNREACHABLE = 1011
CLOSE_NORMAL = 1000
CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 5.0
MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 123 bytes of UTF-8


def _reason(text: str) -> str:
    data = text.encode()
    if len(data) <= MAX_REASON_BYTES:
        return text
    return data[:MAX_REASON_BYTES].decode(errors="ignore")


def _token_from(scope: dict) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


def _find_vm(raw_uuid: object) -> VirtualMachine | None:
    try:
        return VirtualMachine.objects.select_related("host").filter(uuid=uuid_lib.UUID(str(raw_uuid))).first()
    except ValueError:
        return None


class GraphicsConsumer(SessionSocket):
    """Binary frames both ways: RFB from the display to the browser, input from the browser to it."""

    display_type = "vnc"
    announce_close = True  # send the close reason in a text frame first (see the module's text)

    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    pump: asyncio.Task | None = None
    closing = False

    async def connect(self) -> None:
        # noVNC may offer the "binary" subprotocol (older versions always did); a browser fails the
        # handshake if it offered some and the server picked none.
        offered = self.scope.get("subprotocols") or []
        await self.accept(subprotocol="binary" if "binary" in offered else None)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._close_with(CLOSE_UNAUTHENTICATED, _("Log in to use the console."))
            return
        vm = await database_sync_to_async(_find_vm)(self.scope["url_route"]["kwargs"]["uuid"])
        if vm is None or not await database_sync_to_async(can_operate_vm)(user, vm):
            await self._close_with(CLOSE_FORBIDDEN, _("You may not use this VM's graphical console."))
            return
        if not await console_tokens.aconsume(_token_from(self.scope), user.pk, vm.uuid, kind=self.display_type):
            await self._close_with(CLOSE_FORBIDDEN, _("The console ticket is missing, expired or already used."))
            return
        if vm.host is None:
            await self._close_with(CLOSE_NO_GRAPHICS, _("This VM is not on a host."))
            return
        try:
            # Not thread_sensitive: a slow host must not hold up the database thread.
            display = await sync_to_async(live_graphics, thread_sensitive=False)(
                vm.host.uri, str(vm.uuid), (self.display_type,)
            )
        except HypervisorError as exc:
            log.warning("graphics console of %s: %s", vm.uuid, exc)
            await self._close_with(CLOSE_UNREACHABLE, _("The VM's host cannot be reached."))
            return
        if display is None:
            await self._close_with(CLOSE_NO_GRAPHICS, self.no_display_message())
            return
        address = connect_address(display.listen, vm.host.uri)
        if address is None or display.port is None:
            await self._close_with(CLOSE_NO_GRAPHICS, _("This VM's display does not listen on a network port."))
            return
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(address, display.port, limit=CHUNK_BYTES), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            log.warning("graphics console of %s: cannot reach %s:%s: %s", vm.uuid, address, display.port, exc)
            await self._close_with(CLOSE_UNREACHABLE, _("The VM's display cannot be reached from the web server."))
            return
        self.vm_uuid = vm.uuid
        await self.start_session(user, [])
        self.pump = asyncio.create_task(self._display_to_browser())

    def no_display_message(self) -> str:
        return _("This VM is not running or has no VNC display.")

    async def _close_with(self, code: int, reason: str) -> None:
        """Close with a code and a reason the page can show, whichever ASGI server runs us."""
        if self.closing:
            return
        self.closing = True
        if self.announce_close:
            with contextlib.suppress(Exception):  # the browser may be gone already
                await self.send(text_data=json.dumps({"type": "closing", "code": code, "reason": reason}))
        await self.close(code=code, reason=_reason(reason))

    async def session_closed(self, event: dict) -> None:
        await self._close_with(CLOSE_UNAUTHENTICATED, _("Your session has ended."))

    async def _display_to_browser(self) -> None:
        assert self.reader is not None
        try:
            while True:
                chunk = await self.reader.read(CHUNK_BYTES)
                if not chunk:
                    break
                await self.send(bytes_data=chunk)
        except (ConnectionError, OSError):
            pass
        # The display went away (the VM stopped or QEMU closed the connection).
        await self._close_with(CLOSE_NORMAL, _("The display closed."))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        if self.writer is None or bytes_data is None:
            return  # RFB and SPICE are binary; text frames mean nothing here
        if not await self.session_still_valid():
            await self._close_with(CLOSE_UNAUTHENTICATED, _("Your session has ended."))
            return
        try:
            self.writer.write(bytes_data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            await self._close_with(CLOSE_NORMAL, _("The display closed."))

    async def disconnect(self, code: int) -> None:
        if self.pump is not None and self.pump is not asyncio.current_task():
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pump
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.writer = None
        await super().disconnect(code)


class SpiceConsumer(GraphicsConsumer):
    """The same relay for a SPICE display (one socket per SPICE channel, see the module's text)."""

    display_type = "spice"
    announce_close = False

    def no_display_message(self) -> str:
        return _("This VM is not running or has no SPICE display.")


def websocket_urlpatterns() -> list:
    """The routes of these consumers, for dashboard/routing.py (and tests that build their own app)."""
    from django.urls import path

    return [
        path("ws/vms/<uuid:uuid>/vnc/", GraphicsConsumer.as_asgi()),
        path("ws/vms/<uuid:uuid>/spice/", SpiceConsumer.as_asgi()),
    ]
