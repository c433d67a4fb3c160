"""The SPICE relay over a real sandbox display: the link handshake both ways, several channel sockets
on one ticket within its reuse window, and what is refused."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from live.redis import sync_redis
from tests.support.wait import wait_until
from vms.consumers.graphics import websocket_urlpatterns
from vms.hypervisor.connection import open_connection
from vms.services import console_tokens

from .conftest import SPICE_PASSWORD, display_stream, live_display, running_domain
from .test_vnc_socket import _closed_with, _read_bytes, _user, _vm

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

application = AuthMiddlewareStack(URLRouter(websocket_urlpatterns()))

SPICE_MAGIC = b"REDQ"
SPICE_CHANNEL_MAIN, SPICE_CHANNEL_DISPLAY = 1, 2
SPICE_MSG_MAIN_INIT = 103
# Common caps: PROTOCOL_AUTH_SELECTION (0), AUTH_SPICE (1), MINI_HEADER (3).
COMMON_CAPS = (1 << 0) | (1 << 1) | (1 << 3)


def link_message(channel_type: int, connection_id: int = 0) -> bytes:
    """A client's SpiceLinkHeader + SpiceLinkMess (protocol 2.2, one common caps word)."""
    body = struct.pack("<IBBIII", connection_id, channel_type, 0, 1, 0, 18) + struct.pack("<I", COMMON_CAPS)
    return SPICE_MAGIC + struct.pack("<III", 2, 2, len(body)) + body


async def _open(vm_uuid: str, cookie: bytes | None, token: str | None, kind: str = "spice"):
    query = f"?token={token}" if token is not None else ""
    headers = [(b"cookie", cookie)] if cookie else []
    communicator = WebsocketCommunicator(application, f"/ws/vms/{vm_uuid}/{kind}/{query}", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def _link(socket, channel_type: int) -> bytes:
    """Send a link message; the server's SpiceLinkHeader and SpiceLinkReply."""
    await socket.send_to(bytes_data=link_message(channel_type))
    data = await _read_bytes(socket, 16)
    assert data[:4] == SPICE_MAGIC, data[:16]
    major, _minor, size = struct.unpack("<III", data[4:16])
    assert major == 2
    if len(data) < 16 + size:
        data += await _read_bytes(socket, 16 + size - len(data))
    return data


# What spice-html5 sends after the link reply: auth mechanism SPICE (1), then a 128-byte ticket. It
# knows no password; these bytes are not even a valid encryption. The relay replaces them.
BROWSER_TICKET = struct.pack("<I", 1) + bytes(128)


async def direct_link_result(uri: str, vm_uuid: str) -> int:
    """The link result QEMU gives a client that connects to the display itself with the browser's ticket."""
    port = int((await sync_to_async(live_display)(uri, vm_uuid, "spice")).get("port"))
    async with display_stream(uri, port) as (reader, writer):
        writer.write(link_message(SPICE_CHANNEL_MAIN))
        header = await reader.readexactly(16)
        await reader.readexactly(struct.unpack("<I", header[12:16])[0])
        writer.write(BROWSER_TICKET)
        return struct.unpack("<I", await reader.readexactly(4))[0]


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "the display closed"
        data += chunk
    return data


async def _main_channel(vm_uuid: str, cookie: bytes, token: str) -> tuple[WebsocketCommunicator, bytes, int]:
    """A linked, authenticated main channel: its socket, the link reply, and the session id."""
    main = await _open(vm_uuid, cookie, token)
    reply = await _link(main, SPICE_CHANNEL_MAIN)
    (error,) = struct.unpack("<I", reply[16:20])
    assert error == 0  # SPICE_LINK_ERR_OK, followed by the server's RSA public key
    assert len(reply) >= 16 + 4 + 162
    # Through the relay, the browser's ticket is accepted: the relay encrypted the VM's password instead.
    await main.send_to(bytes_data=BROWSER_TICKET)
    # SPICE_LINK_ERR_OK, then SPICE_MSG_MAIN_INIT (mini header: type u16, size u32; session_id first).
    data = await _read_bytes(main, 4 + 6 + 4)
    assert struct.unpack("<I", data[:4]) == (0,)
    msg_type, _size, session_id = struct.unpack("<HII", data[4:14])
    assert msg_type == SPICE_MSG_MAIN_INIT
    assert SPICE_PASSWORD.encode() not in reply + data
    return main, reply, session_id


async def _display_channel(vm_uuid: str, cookie: bytes, token: str, session_id: int) -> WebsocketCommunicator:
    """spice-html5 opens the next channel's socket with the same URL, hence the same ticket; that
    channel joins the session the main channel's init named, with its own link and (replaced) ticket."""
    display = await _open(vm_uuid, cookie, token)
    await display.send_to(bytes_data=link_message(SPICE_CHANNEL_DISPLAY, session_id))
    reply = await _read_bytes(display, 16 + 4 + 162)
    assert reply[:4] == SPICE_MAGIC and struct.unpack("<I", reply[16:20]) == (0,)
    await display.send_to(bytes_data=BROWSER_TICKET)
    result = reply[16 + struct.unpack("<I", reply[12:16])[0] :]
    if len(result) < 4:
        result += await _read_bytes(display, 4 - len(result))
    assert struct.unpack("<I", result[:4]) == (0,)
    return display


async def test_spice_link_handshake_through_the_relay(spice_domain):
    uri, vm_uuid = spice_domain
    # The display has a password: the browser's ticket, sent to it directly, is refused.
    assert await direct_link_result(uri, vm_uuid) != 0
    owner, _client, cookie = await sync_to_async(_user)("owner")
    await sync_to_async(_vm)(uri, vm_uuid, owner)
    token = console_tokens.issue(owner.pk, vm_uuid, kind="spice")

    main, _reply, session_id = await _main_channel(vm_uuid, cookie, token)
    display = await _display_channel(vm_uuid, cookie, token, session_id)
    await display.disconnect()
    await main.disconnect()


def _stays_running(uri: str, vm_uuid: str, seconds: float) -> bool:
    """Whether the domain is running at every look over `seconds` (a QEMU that crashed is not)."""
    deadline = time.monotonic() + seconds
    while True:
        if live_display(uri, vm_uuid, "spice") is None or not _is_active(uri, vm_uuid):
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)


def _is_active(uri: str, vm_uuid: str) -> bool:
    conn = open_connection(uri)
    try:
        return bool(conn.lookupByUUIDString(vm_uuid).isActive())
    finally:
        conn.close()


async def test_a_tab_closed_before_the_display_init_does_not_crash_the_vm(sandbox_uris):
    """spice-server 0.15 segfaults, taking QEMU and the guest with it, when a display channel closes
    before its client's DISPLAY_INIT; the relay sends one for a browser that left too early."""
    uri = sandbox_uris[2]
    owner, _client, cookie = await sync_to_async(_user)("owner")
    with running_domain(uri, vnc=True, password=SPICE_PASSWORD, display="spice") as vm_uuid:
        await sync_to_async(_vm)(uri, vm_uuid, owner)
        token = console_tokens.issue(owner.pk, vm_uuid, kind="spice")
        main, _reply, session_id = await _main_channel(vm_uuid, cookie, token)
        display = await _display_channel(vm_uuid, cookie, token, session_id)
        # The server finishes setting the channel up in its display worker meanwhile (closing at once
        # races it, and crashed the guest less often, which hid the bug).
        await asyncio.sleep(1)
        await display.disconnect()
        assert await sync_to_async(_stays_running)(uri, vm_uuid, 2), "QEMU died when the display channel closed"
        await main.disconnect()


def _reuse_window_over(token: str) -> bool:
    """The ticket's first use is more than SPICE_REUSE_S ago by Redis's clock, the one the window is judged by."""
    redis = sync_redis()
    first = redis.get(console_tokens._used_key(token))
    seconds, micros = redis.time()
    return first is not None and seconds * 1000 + micros // 1000 - int(first) > console_tokens.SPICE_REUSE_S * 1000


async def test_spice_ticket_reuse_is_limited(spice_domain, monkeypatch):
    uri, vm_uuid = spice_domain
    owner, _client, cookie = await sync_to_async(_user)("owner")
    other, _other_client, other_cookie = await sync_to_async(_user)("other")
    await sync_to_async(_vm)(uri, vm_uuid, owner)

    # A VNC ticket does not open a SPICE socket, nor a SPICE ticket a VNC one.
    assert (await _closed_with(await _open(vm_uuid, cookie, console_tokens.issue(owner.pk, vm_uuid))))[0] == 4403
    spice_ticket = console_tokens.issue(owner.pk, vm_uuid, kind="spice")
    assert (await _closed_with(await _open(vm_uuid, cookie, spice_ticket, kind="vnc")))[0] == 4403
    # Nor does the owner's SPICE ticket serve another user, even within the window.
    assert (await _closed_with(await _open(vm_uuid, other_cookie, spice_ticket)))[0] == 4403

    # Reuse ends with the window (shortened here, yet long enough for two relayed links with their
    # server-side SPICE authentication on a loaded machine), counted from the first use.
    monkeypatch.setattr(console_tokens, "SPICE_REUSE_S", 3.0)
    token = console_tokens.issue(owner.pk, vm_uuid, kind="spice")
    first = await _open(vm_uuid, cookie, token)
    assert (await _link(first, SPICE_CHANNEL_MAIN))[:4] == SPICE_MAGIC
    second = await _open(vm_uuid, cookie, token)
    assert (await _link(second, SPICE_CHANNEL_DISPLAY))[:4] == SPICE_MAGIC
    await sync_to_async(wait_until)(lambda: _reuse_window_over(token), 10, "the end of the SPICE reuse window")
    assert (await _closed_with(await _open(vm_uuid, cookie, token)))[0] == 4403
    await second.disconnect()
    await first.disconnect()


async def test_vm_without_spice_closes_with_4404(vnc_domain):
    uri, vm_uuid = vnc_domain
    owner, _client, cookie = await sync_to_async(_user)("owner")
    await sync_to_async(_vm)(uri, vm_uuid, owner)
    code, reason = await _closed_with(await _open(vm_uuid, cookie, console_tokens.issue(owner.pk, vm_uuid, "spice")))
    assert code == 4404 and "SPICE" in reason
