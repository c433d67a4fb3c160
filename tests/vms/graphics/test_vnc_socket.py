"""The VNC relay over a real sandbox display: bytes both ways, and who is refused."""

from __future__ import annotations

import struct
import time

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core import signing
from django.test import Client
from django.urls import path

from vms.choices import VMState
from vms.consumers.graphics import GraphicsConsumer
from vms.models import Host, VirtualMachine
from vms.services import console_tokens

from .conftest import VNC_PASSWORD, display_stream, live_vnc_port

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

application = AuthMiddlewareStack(URLRouter([path("ws/vms/<uuid:uuid>/vnc/", GraphicsConsumer.as_asgi())]))


def _user(username: str, **extra) -> tuple[object, Client, bytes]:
    user = get_user_model().objects.create_user(username, password="pw-123456789", **extra)
    client = Client()
    client.force_login(user)
    return user, client, f"sessionid={client.cookies['sessionid'].value}".encode()


def _vm(uri: str, vm_uuid: str, owner) -> VirtualMachine:
    host, _ = Host.objects.get_or_create(uri=uri, defaults={"name": f"sandbox-{uri.split(':')[-1].split('/')[0]}"})
    return VirtualMachine.objects.create(uuid=vm_uuid, name="screen", owner=owner, host=host, state=VMState.RUNNING)


async def _open(vm_uuid: str, cookie: bytes | None, token: str | None) -> WebsocketCommunicator:
    query = f"?token={token}" if token is not None else ""
    headers = [(b"cookie", cookie)] if cookie else []
    communicator = WebsocketCommunicator(application, f"/ws/vms/{vm_uuid}/vnc/{query}", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def _closed_with(communicator: WebsocketCommunicator, timeout: float = 5) -> tuple[int | None, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await communicator.receive_output(timeout=deadline - time.monotonic())
        if message["type"] == "websocket.close":
            return message.get("code"), message.get("reason", "")
    return None, ""


async def _read_bytes(communicator: WebsocketCommunicator, count: int, timeout: float = 10) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < count:
        message = await communicator.receive_output(timeout=deadline - time.monotonic())
        assert message["type"] == "websocket.send", message
        data += message["bytes"]
    return data


async def rfb_handshake_as_novnc(socket: WebsocketCommunicator) -> tuple[bytes, bytes]:
    """What noVNC does up to ServerInit: every byte the relay sent, and the ServerInit message."""
    received = await _read_bytes(socket, 12)
    assert received == b"RFB 003.008\n"
    await socket.send_to(bytes_data=b"RFB 003.008\n")
    types = await _read_bytes(socket, 2)
    received += types
    assert types == bytes([1, 1]), types  # one security type: None; the relay did the password
    await socket.send_to(bytes_data=bytes([1]))
    result = await _read_bytes(socket, 4)
    received += result
    assert struct.unpack(">I", result) == (0,)  # SecurityResult OK
    await socket.send_to(bytes_data=bytes([1]))  # ClientInit (shared): relayed to QEMU from here on
    server_init = await _read_bytes(socket, 24)
    width, height = struct.unpack(">HH", server_init[:4])
    (name_length,) = struct.unpack(">I", server_init[20:24])
    if len(server_init) < 24 + name_length:
        server_init += await _read_bytes(socket, 24 + name_length - len(server_init))
    assert width > 0 and height > 0
    return received + server_init, server_init


async def display_offers(uri: str, vm_uuid: str) -> bytes:
    """The security types QEMU offers to anyone who connects to the display itself (not the relay)."""
    port = await sync_to_async(live_vnc_port)(uri, vm_uuid)
    async with display_stream(uri, port) as (reader, writer):
        assert await reader.readexactly(12) == b"RFB 003.008\n"
        writer.write(b"RFB 003.008\n")
        count = (await reader.readexactly(1))[0]
        return await reader.readexactly(count)


async def test_relay_authenticates_to_the_display_and_offers_the_browser_no_password(vnc_domain):
    uri, vm_uuid = vnc_domain
    # The display itself asks for VNC Authentication only: it has a password.
    assert await display_offers(uri, vm_uuid) == bytes([2])
    owner, _client, cookie = await sync_to_async(_user)("owner")
    await sync_to_async(_vm)(uri, vm_uuid, owner)
    socket = await _open(vm_uuid, cookie, console_tokens.issue(owner.pk, vm_uuid))
    received, server_init = await rfb_handshake_as_novnc(socket)
    assert len(server_init) >= 24
    # The password never travels to the browser, in any encoding.
    assert VNC_PASSWORD.encode() not in received
    # Bytes still flow both ways: a FramebufferUpdateRequest is answered with a FramebufferUpdate (type 0).
    width, height = struct.unpack(">HH", server_init[:4])
    await socket.send_to(bytes_data=struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
    assert (await _read_bytes(socket, 1))[0] == 0
    await socket.disconnect()


async def test_refused_without_a_valid_ticket_or_the_right(vnc_domain):
    uri, vm_uuid = vnc_domain
    owner, _client, cookie = await sync_to_async(_user)("owner")
    other, _other_client, other_cookie = await sync_to_async(_user)("other")
    await sync_to_async(_vm)(uri, vm_uuid, owner)

    code, reason = await _closed_with(await _open(vm_uuid, None, console_tokens.issue(owner.pk, vm_uuid)))
    assert code == 4401 and reason
    assert (await _closed_with(await _open(vm_uuid, cookie, None)))[0] == 4403
    assert (await _closed_with(await _open(vm_uuid, cookie, "garbage")))[0] == 4403
    forged = signing.TimestampSigner(salt="not-vnc-console").sign_object({"u": owner.pk, "vm": vm_uuid, "n": "x"})
    assert (await _closed_with(await _open(vm_uuid, cookie, forged)))[0] == 4403
    # Another user's ticket, and another user with a ticket of their own but no right on the VM.
    assert (await _closed_with(await _open(vm_uuid, cookie, console_tokens.issue(other.pk, vm_uuid))))[0] == 4403
    code, reason = await _closed_with(await _open(vm_uuid, other_cookie, console_tokens.issue(other.pk, vm_uuid)))
    assert code == 4403 and reason
    # A ticket for another VM.
    other_vm = "00000000-0000-0000-0000-000000000001"
    assert (await _closed_with(await _open(vm_uuid, cookie, console_tokens.issue(owner.pk, other_vm))))[0] == 4403


async def test_expired_and_used_tickets_are_refused(vnc_domain, monkeypatch):
    uri, vm_uuid = vnc_domain
    owner, _client, cookie = await sync_to_async(_user)("owner")
    await sync_to_async(_vm)(uri, vm_uuid, owner)
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - console_tokens.MAX_AGE_S - 5)
    expired = console_tokens.issue(owner.pk, vm_uuid)
    monkeypatch.setattr(signing.time, "time", real_time)
    assert (await _closed_with(await _open(vm_uuid, cookie, expired)))[0] == 4403

    token = console_tokens.issue(owner.pk, vm_uuid)
    first = await _open(vm_uuid, cookie, token)
    assert (await _read_bytes(first, 12)).startswith(b"RFB")
    await first.disconnect()
    assert (await _closed_with(await _open(vm_uuid, cookie, token)))[0] == 4403


async def test_view_only_share_gets_no_graphical_console(vnc_domain):
    from vms.models import VMShare

    uri, vm_uuid = vnc_domain
    owner, _client, _cookie = await sync_to_async(_user)("owner")
    viewer, _viewer_client, viewer_cookie = await sync_to_async(_user)("viewer")
    vm = await sync_to_async(_vm)(uri, vm_uuid, owner)
    await sync_to_async(VMShare.objects.create)(vm=vm, user=viewer, level="view")
    socket = await _open(vm_uuid, viewer_cookie, console_tokens.issue(viewer.pk, vm_uuid))
    assert (await _closed_with(socket))[0] == 4403


async def test_vm_without_graphics_closes_with_4404(plain_domain):
    uri, vm_uuid = plain_domain
    owner, _client, cookie = await sync_to_async(_user)("owner")
    await sync_to_async(_vm)(uri, vm_uuid, owner)
    code, reason = await _closed_with(await _open(vm_uuid, cookie, console_tokens.issue(owner.pk, vm_uuid)))
    assert code == 4404 and reason


async def test_logout_closes_the_display_socket(vnc_domain):
    uri, vm_uuid = vnc_domain
    owner, client, cookie = await sync_to_async(_user)("owner")
    await sync_to_async(_vm)(uri, vm_uuid, owner)
    socket = await _open(vm_uuid, cookie, console_tokens.issue(owner.pk, vm_uuid))
    assert (await _read_bytes(socket, 12)).startswith(b"RFB")
    await sync_to_async(client.logout)()
    assert (await _closed_with(socket))[0] == 4401
