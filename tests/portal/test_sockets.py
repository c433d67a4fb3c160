"""Websockets as the portal uses them: the fleet socket carries request.state to the requester only;
VM and console sockets admit the owner, shares and operators, and nobody else."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from dashboard.routing import websocket_urlpatterns as dashboard_routes
from portal import services
from tests.portal.conftest import make_vm
from vms.choices import ShareLevel
from vms.consumers.vm import websocket_urlpatterns as vm_routes
from vms.services import sharing

pytestmark = pytest.mark.django_db(transaction=True)


def _routes():
    paths = {str(p.pattern) for p in dashboard_routes}
    return [*dashboard_routes, *(p for p in vm_routes() if str(p.pattern) not in paths)]


application = AuthMiddlewareStack(URLRouter(_routes()))


@pytest.fixture(autouse=True)
async def close_consumer_connections():
    """Consumers query from asgiref's shared thread; close its connection so the test database can go."""
    yield
    await sync_to_async(connections.close_all)()


def cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(path: str, cookie: bytes) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=[(b"cookie", cookie)])
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def closed_with(communicator: WebsocketCommunicator) -> int | None:
    for _ in range(5):
        message = await communicator.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            return message.get("code")
    return None


async def test_request_state_reaches_the_requester_and_admins_only(alice, bob, admin, template, host):
    alice_socket = await connect("/ws/fleet/", await sync_to_async(cookie_for)(alice))
    bob_socket = await connect("/ws/fleet/", await sync_to_async(cookie_for)(bob))
    admin_socket = await connect("/ws/fleet/", await sync_to_async(cookie_for)(admin))
    req = await sync_to_async(services.submit_request)(alice, template, "live-1", 1, 128, 1)
    for socket in (alice_socket, admin_socket):
        message = await socket.receive_json_from(timeout=5)
        assert message["type"] == "request.state" and message["request"] == req.pk and message["state"] == "pending"
    assert await bob_socket.receive_nothing(timeout=0.5)
    await sync_to_async(services.reject)(admin, req, "not today")
    message = await alice_socket.receive_json_from(timeout=5)
    assert (message["state"], message["reason"]) == ("rejected", "not today")
    for socket in (alice_socket, bob_socket, admin_socket):
        await socket.disconnect()


@pytest.mark.parametrize("suffix", ["", "console/"])
async def test_vm_sockets_admit_owner_shares_and_operators_only(alice, bob, operator, host, suffix):
    vm = await sync_to_async(make_vm)(alice, host, "sock-vm")
    path = f"/ws/vms/{vm.uuid}/{suffix}"
    bob_cookie = await sync_to_async(cookie_for)(bob)
    assert await closed_with(await connect(path, bob_cookie)) == 4403
    for user in (alice, operator):
        socket = await connect(path, await sync_to_async(cookie_for)(user))
        first = await socket.receive_json_from(timeout=5)
        assert first["type"] in ("vm.state", "console.output")
        await socket.disconnect()
    await sync_to_async(sharing.share_vm)(alice, vm, "bob", ShareLevel.VIEW)
    socket = await connect(path, bob_cookie)
    assert (await socket.receive_json_from(timeout=5))["type"] in ("vm.state", "console.output")
    if suffix:
        await socket.receive_json_from(timeout=5)  # console.state
        await socket.send_json_to({"type": "console.input", "data": "reboot\n"})
        refusal = await socket.receive_json_from(timeout=5)
        assert refusal["type"] == "error"  # view-only shares watch, never type
    await socket.disconnect()
    await asyncio.sleep(0)


async def test_anonymous_sockets_are_closed(alice, host):
    vm = await sync_to_async(make_vm)(alice, host, "anon-vm")
    for path in (f"/ws/vms/{vm.uuid}/", f"/ws/vms/{vm.uuid}/console/"):
        communicator = WebsocketCommunicator(application, path)
        connected, _ = await communicator.connect(timeout=10)
        if connected:
            assert await closed_with(communicator) == 4401
