"""Users with session cookies, VMs, and websocket clients for the socket tests."""

from __future__ import annotations

import time

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from dashboard.routing import websocket_urlpatterns
from vms.choices import VMState
from vms.models import VirtualMachine
from vms.permissions import OPERATORS_GROUP

# As dashboard/asgi.py wraps it, minus the origin check (tests/test_asgi_smoke.py covers that).
application = AuthMiddlewareStack(URLRouter(websocket_urlpatterns))


def make_user(username: str, **extra):
    # No password: hashing costs ~0.3 s; sessions come from force_login.
    return get_user_model().objects.create_user(username, **extra)


def make_operator(username: str):
    user = make_user(username)
    user.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    return user


def login(user) -> tuple[Client, bytes]:
    client = Client()
    client.force_login(user)
    return client, f"sessionid={client.cookies['sessionid'].value}".encode()


def make_vm(owner, name: str = "vm") -> VirtualMachine:
    return VirtualMachine.objects.create(name=name, owner=owner, state=VMState.STOPPED)


async def open_socket(path: str, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"cookie", cookie)] if cookie else []
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def open_vm_socket(path: str, cookie: bytes) -> WebsocketCommunicator:
    """A VM or console socket that was let in, its first frames read (vm.state; scrollback + state)."""
    communicator = await open_socket(path, cookie)
    first = await communicator.receive_json_from(timeout=5)
    assert first["type"] in ("vm.state", "console.output"), first
    if first["type"] == "console.output":
        assert (await communicator.receive_json_from(timeout=5))["type"] == "console.state"
    return communicator


async def closed_with(communicator: WebsocketCommunicator, timeout: float = 5) -> tuple[int | None, list[dict]]:
    """The code the server closed with, and the frames it sent before (None: still open)."""
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            message = await communicator.receive_output(timeout=remaining)
        except TimeoutError:
            break
        if message["type"] == "websocket.close":
            return message.get("code"), frames
        frames.append(message)
    return None, frames


async def still_open(communicator: WebsocketCommunicator, timeout: float = 0.5) -> bool:
    """Nothing arrives (no close) within `timeout`."""
    return await communicator.receive_nothing(timeout=timeout)
