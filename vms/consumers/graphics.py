"""/ws/vms/<uuid>/vnc/ and /ws/vms/<uuid>/spice/: a VM's VNC or SPICE display, relayed between the
browser and the host.

The browser runs noVNC (the RFB protocol) over binary websocket frames; this consumer reads the display
from the live domain XML (with its password: VIR_DOMAIN_XML_SECURE, in a worker thread), opens a TCP
connection to it and copies bytes both ways, after a handshake of its own:
- Where it connects: only to an address of the VM's host (vms.hypervisor.graphics.relay_address: the
  URI's host for qemu+tcp/tls hosts, loopback for local URIs). A display that claims another address
  (say 127.0.0.1 on a qemu+tcp host, which would be the web server's own loopback) is refused with 4406
  and a sentence naming the address and the host. For hosts reached over SSH the relay opens a channel
  through the host's own sshd (vms.hypervisor.tunnel) to the display on the host's loopback, with the
  project's key and pinned host key, as `ssh -L` would.
- Authentication: every VM has its own random display password, which the browser never receives. The
  relay authenticates to the display itself and offers the browser an unauthenticated session
  (vms.hypervisor.display_auth): RFB 3.8 with VNC Authentication towards QEMU and security type None
  towards noVNC; for SPICE, the browser's ticket is replaced by one encrypted with the VM's password.
SpiceConsumer does the same for spice-html5: SPICE opens one websocket per SPICE channel (main, display,
inputs, cursor...), each its own TCP connection to the same port with its own link and ticket, all with
the same console ticket (which a SPICE ticket allows for a few seconds, see console_tokens). TLS ports
are not relayed. A display channel whose browser leaves before the display answered its init is held
open until it has (at most SETTLE_TIMEOUT_S): closing it earlier crashes QEMU with the guest on Debian
12's spice-server (SpiceChannel.must_settle).

Who may connect: a logged-in user (else 4401) who may *operate* the VM (else 4403) and who brings a
fresh console ticket for that VM in `?token=` (else 4403; see vms/services/console_tokens.py).
Operating, not just viewing: RFB mixes keyboard and mouse input into the same stream as the picture,
and a relay that does not parse RFB past the handshake cannot drop input, so a view-only share gets no
graphical console. A VM that is not running or has no VNC display closes with 4404; a display address
the relay will not connect to with 4406; a host or display that cannot be reached, or that refuses the
relay's handshake, with 1011. Every close carries a reason the page shows: in the close frame, and first
in a text frame `{"type": "closing", "code", "reason"}`, because daphne (4.2) drops the close frame's
reason. RFB itself never uses text frames, and noVNC ignores one (it reads it as zero bytes).
spice-html5 would not (it treats every frame as an ArrayBuffer): SPICE sockets get the close frame only.

Logout closes the socket (SessionSocket); input also re-checks that the session still exists.

Backpressure: the display is read in chunks of at most CHUNK_BYTES and each chunk's send is awaited
before the next read, so nothing piles up here; browser input is written with `drain()` awaited before
the next frame is taken. During the handshake the browser's bytes wait in a buffer of at most
HANDSHAKE_BYTES. How far an `await send` waits for the browser depends on the ASGI server (uvicorn with
`websockets` waits for its write buffer to drain; daphne hands frames to Twisted's transport, which
buffers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.utils.translation import gettext as _

from live.sockets import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, SessionSocket
from vms.hypervisor import ssh
from vms.hypervisor.display_auth import (
    DisplayAuthError,
    SpiceChannel,
    spice_link,
    vnc_authenticate,
    vnc_greet_browser,
)
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.graphics import DisplayRefused, relay_target, through_ssh
from vms.hypervisor.tunnel import STREAM_ERRORS, Tunnel, TunnelError, open_tunnel
from vms.permissions import can_operate_vm
from vms.selectors import vm_by_uuid
from vms.services import console_tokens

log = logging.getLogger(__name__)

CLOSE_NO_GRAPHICS = 4404
CLOSE_DISPLAY_REFUSED = 4406  # the display listens where the relay does not connect
CLOSE_UNREACHABLE = 1011
CLOSE_NORMAL = 1000
CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 5.0
HANDSHAKE_TIMEOUT_S = 15.0
SETTLE_TIMEOUT_S = 2.0  # how long a closed SPICE display channel waits for the answer to its init
HANDSHAKE_BYTES = 64 * 1024  # what the browser may send before the handshake is done
MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 123 bytes of UTF-8


def _reason(text: str) -> str:
    """The reason cut to what a close frame holds, with an ellipsis when cut (the VNC page reads the
    whole sentence from the text frame)."""
    data = text.encode()
    if len(data) <= MAX_REASON_BYTES:
        return text
    return data[: MAX_REASON_BYTES - len("…".encode())].decode(errors="ignore") + "…"


def _token_from(scope: dict) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


def refusal_message(exc: DisplayRefused, host_name: str) -> str:
    """The sentence for a display address the relay will not connect to (see relay_address)."""
    values = {"address": exc.listen, "host": host_name, "host_address": exc.host}
    if exc.reason == "not-loopback":
        return (
            _(
                "The display of this VM listens on %(address)s, which is not a loopback address of the local "
                "host %(host)s; the console was not opened."
            )
            % values
        )
    if exc.reason == "unresolved":
        return (
            _("The address of host %(host)s (%(host_address)s) cannot be resolved; the console was not opened.")
            % values
        )
    return (
        _(
            "The display of this VM listens on %(address)s, which is not an address of host %(host)s "
            "(%(host_address)s); the console was not opened."
        )
        % values
    )


class _Inbox:
    """The browser's bytes during the handshake, read in exact amounts."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.arrived = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self.buffer += data
        self.arrived.set()

    async def read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self.arrived.clear()
            await self.arrived.wait()
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def take_all(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


class GraphicsConsumer(SessionSocket):
    """Binary frames both ways: RFB from the display to the browser, input from the browser to it."""

    display_type = "vnc"
    announce_close = True  # send the close reason in a text frame first (see the module's text)

    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    tunnel: Tunnel | None = None  # the SSH connection carrying the stream, for hosts reached over SSH
    pump: asyncio.Task | None = None
    inbox: _Inbox | None = None
    piping = False  # the handshake is done: browser bytes go straight to the display
    browser_spoke = False  # the browser sent bytes for the display after the handshake
    display_answered = False  # ... and the display sent bytes after that
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
        vm = await database_sync_to_async(vm_by_uuid)(self.scope["url_route"]["kwargs"]["uuid"])
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
            # libvirt (the password: read-write, VIR_DOMAIN_XML_SECURE) and DNS (the host's address): a
            # worker thread, not the database thread, so a slow host does not hold up queries.
            display, address = await sync_to_async(relay_target, thread_sensitive=False)(
                vm.host.uri, str(vm.uuid), (self.display_type,)
            )
        except DisplayRefused as exc:
            log.warning("graphics console of %s refused: %s", vm.uuid, exc)
            code = CLOSE_UNREACHABLE if exc.reason == "unresolved" else CLOSE_DISPLAY_REFUSED
            await self._close_with(code, refusal_message(exc, vm.host.name))
            return
        except HypervisorError as exc:
            log.warning("graphics console of %s: %s", vm.uuid, exc)
            await self._close_with(CLOSE_UNREACHABLE, _("The VM's host cannot be reached."))
            return
        if display is None:
            await self._close_with(CLOSE_NO_GRAPHICS, self.no_display_message())
            return
        if address is None or display.port is None:
            await self._close_with(CLOSE_NO_GRAPHICS, _("This VM's display does not listen on a network port."))
            return
        try:
            await self._open_display(vm.host.uri, address, display.port)
        except (OSError, TimeoutError) as exc:
            log.warning("graphics console of %s: cannot reach %s:%s: %s", vm.uuid, address, display.port, exc)
            if isinstance(exc, TunnelError):
                message = _("The VM's display cannot be reached through the SSH connection to host %(host)s.")
            else:
                message = _("The VM's display cannot be reached from the web server.")
            await self._close_with(CLOSE_UNREACHABLE, message % {"host": vm.host.name})
            return
        self.vm_uuid = vm.uuid
        self.inbox = _Inbox()
        await self.start_session(user, [])
        self.pump = asyncio.create_task(self._relay(display.password))

    async def _open_display(self, uri: str, address: str, port: int) -> None:
        """A stream to the display: through the host's sshd for SSH hosts, else a TCP connection."""
        identity = ssh.identity()
        if through_ssh(uri):
            if identity is None:
                raise TunnelError("this server has no SSH key")
            self.tunnel = await open_tunnel(uri, identity, address, port, CONNECT_TIMEOUT_S)
            self.reader, self.writer = self.tunnel.reader, self.tunnel.writer
            return
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(address, port, limit=CHUNK_BYTES), CONNECT_TIMEOUT_S
        )

    async def handshake(self, password: str | None) -> None:
        """Authenticate to the display with the VM's password; the browser gets a session without one."""
        assert self.reader is not None and self.writer is not None and self.inbox is not None
        await vnc_authenticate(self.reader, self.writer, password)
        await vnc_greet_browser(self.inbox.read, self._send_bytes)

    async def _send_bytes(self, data: bytes) -> None:
        await self.send(bytes_data=data)

    async def _relay(self, password: str | None) -> None:
        try:
            await asyncio.wait_for(self.handshake(password), HANDSHAKE_TIMEOUT_S)
        except (DisplayAuthError, TimeoutError, *STREAM_ERRORS) as exc:
            log.warning("graphics console of %s: handshake failed: %s", self.vm_uuid, exc)
            await self._close_with(CLOSE_UNREACHABLE, _("The VM's display refused the connection."))
            return
        except Exception:  # a bug here must close the socket, not leave it hanging
            log.exception("graphics console of %s: handshake failed", self.vm_uuid)
            await self._close_with(CLOSE_UNREACHABLE, _("The VM's display refused the connection."))
            return
        del password
        self._start_piping()
        await self._display_to_browser()

    def _start_piping(self) -> None:
        """From here on, browser bytes go straight to the display; what came early goes first."""
        assert self.writer is not None and self.inbox is not None
        early = self.inbox.take_all()
        self.piping = True
        if early:
            self.browser_spoke = True
            self.writer.write(early)

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

    def check_access(self, user) -> bool | str:
        """Re-checked when the user's rights change (SessionSocket.recheck): operating, as at connect."""
        vm = vm_by_uuid(self.vm_uuid)
        return (vm is not None and can_operate_vm(user, vm)) or _("You may no longer use this VM's graphical console.")

    async def close_for(self, code: int, reason: str) -> None:
        await self._close_with(code, reason)

    async def _display_to_browser(self) -> None:
        assert self.reader is not None
        try:
            while True:
                chunk = await self.reader.read(CHUNK_BYTES)
                if not chunk:
                    break
                self.display_answered = self.display_answered or self.browser_spoke
                await self.send(bytes_data=chunk)
        except STREAM_ERRORS:
            pass
        # The display went away (the VM stopped or QEMU closed the connection).
        await self._close_with(CLOSE_NORMAL, _("The display closed."))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        if self.writer is None or bytes_data is None:
            return  # RFB and SPICE are binary; text frames mean nothing here
        if not await self.session_still_valid():
            await self._close_with(CLOSE_UNAUTHENTICATED, _("Your session has ended."))
            return
        if not self.piping:
            assert self.inbox is not None
            self.inbox.feed(bytes_data)
            if len(self.inbox.buffer) > HANDSHAKE_BYTES:
                await self._close_with(CLOSE_NORMAL, _("The display closed."))
            return
        self.browser_spoke = True
        try:
            self.writer.write(bytes_data)
            await self.writer.drain()
        except STREAM_ERRORS:
            await self._close_with(CLOSE_NORMAL, _("The display closed."))

    async def _stop_pump(self) -> None:
        if self.pump is not None and self.pump is not asyncio.current_task():
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pump

    async def disconnect(self, code: int) -> None:
        await self._stop_pump()
        if self.tunnel is not None:
            await self.tunnel.close()
            self.tunnel = self.writer = None
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
    channel: SpiceChannel | None = None  # known once the link succeeded

    async def handshake(self, password: str | None) -> None:
        """This channel's link: the browser's ticket is replaced by one made with the VM's password."""
        assert self.reader is not None and self.writer is not None and self.inbox is not None
        self.channel = await spice_link(self.inbox.read, self._send_bytes, self.reader, self.writer, password)

    async def disconnect(self, code: int) -> None:
        if self.channel is not None and self.channel.must_settle and self.piping and not self.display_answered:
            await self._stop_pump()
            await self._settle_display_channel()
        await super().disconnect(code)

    async def _settle_display_channel(self) -> None:
        """Keep a display channel open until the display answered an init (see SpiceChannel.must_settle):
        the browser's, or one sent for it. Bounded: a display that never answers is closed anyway."""
        assert self.reader is not None and self.writer is not None
        with contextlib.suppress(Exception):  # the display may be gone already: nothing to protect
            if not self.browser_spoke:
                self.writer.write(SpiceChannel.display_init())
                await self.writer.drain()
            await asyncio.wait_for(self.reader.read(CHUNK_BYTES), SETTLE_TIMEOUT_S)

    def no_display_message(self) -> str:
        return _("This VM is not running or has no SPICE display.")


def websocket_urlpatterns() -> list:
    """The routes of these consumers, for dashboard/routing.py (and tests that build their own app)."""
    from django.urls import path

    return [
        path("ws/vms/<uuid:uuid>/vnc/", GraphicsConsumer.as_asgi()),
        path("ws/vms/<uuid:uuid>/spice/", SpiceConsumer.as_asgi()),
    ]
