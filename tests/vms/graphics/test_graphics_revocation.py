"""Issue 13, hole 2, for the VNC relay (real sandbox display): taking away the right to operate the VM,
or the user's account, closes an open graphical console at once (the relay got it from SessionSocket)."""

from __future__ import annotations

import copy
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from django.urls import path

from vms.choices import ShareLevel, VMState
from vms.consumers.graphics import GraphicsConsumer
from vms.models import Host, VirtualMachine, VMShare
from vms.services import console_tokens, sharing

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

application = AuthMiddlewareStack(URLRouter([path("ws/vms/<uuid:uuid>/vnc/", GraphicsConsumer.as_asgi())]))


@pytest.fixture(autouse=True)
def private_channel_layer(settings):
    """A channel-layer prefix of this test's own: other runs on this Redis have users with our ids."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["prefix"] = f"kvmdash-test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = layers


@pytest.fixture(autouse=True)
async def close_consumer_connections():
    yield
    await sync_to_async(connections.close_all)()


@sync_to_async
def _shared_screen(uri: str, vm_uuid: str):
    """The sandbox display as alice's VM, shared with bob to operate; (alice, bob, vm, bob's cookie)."""
    alice = get_user_model().objects.create_user("alice")
    bob = get_user_model().objects.create_user("bob")
    host, _ = Host.objects.get_or_create(uri=uri, defaults={"name": f"sandbox-{uri.split(':')[-1].split('/')[0]}"})
    vm = VirtualMachine.objects.create(uuid=vm_uuid, name="screen", owner=alice, host=host, state=VMState.RUNNING)
    sharing.share_vm(alice, vm, "bob", ShareLevel.OPERATE)
    client = Client()
    client.force_login(bob)
    return alice, bob, vm, f"sessionid={client.cookies['sessionid'].value}".encode()


async def _closed_with(communicator: WebsocketCommunicator, timeout: float = 5) -> tuple[int | None, list[str]]:
    """The close code and the text frames before it (the relay announces its reason in one)."""
    texts: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await communicator.receive_output(timeout=deadline - time.monotonic())
        if message["type"] == "websocket.close":
            return message.get("code"), texts
        if message.get("text"):
            texts.append(message["text"])
    return None, texts


def _unshare(alice, bob, vm) -> None:
    sharing.unshare_vm(alice, VMShare.objects.select_related("vm", "user").get(vm=vm, user=bob))


def _lower_to_view(alice, bob, vm) -> None:
    sharing.share_vm(alice, vm, "bob", ShareLevel.VIEW)


def _deactivate(alice, bob, vm) -> None:
    bob.is_active = False
    bob.save()


@pytest.mark.parametrize(
    ("change", "code"),
    [(_unshare, 4403), (_lower_to_view, 4403), (_deactivate, 4401)],
    ids=["share-revoked", "share-lowered-to-view", "user-deactivated"],
)
async def test_taking_the_right_away_closes_the_open_graphical_console(vnc_domain, change, code):
    uri, vm_uuid = vnc_domain
    alice, bob, vm, bob_cookie = await _shared_screen(uri, vm_uuid)
    token = console_tokens.issue(bob.pk, vm_uuid)
    path = f"/ws/vms/{vm_uuid}/vnc/?token={token}"
    socket = WebsocketCommunicator(application, path, headers=[(b"cookie", bob_cookie)])
    connected, _ = await socket.connect(timeout=10)
    assert connected
    first = await socket.receive_output(timeout=10)
    assert first["type"] == "websocket.send" and first.get("bytes", b"").startswith(b"RFB"), first  # relaying

    started = time.monotonic()
    await sync_to_async(change)(alice, bob, vm)
    closed, texts = await _closed_with(socket)
    assert closed == code
    assert time.monotonic() - started < 2
    assert any('"closing"' in text for text in texts)  # with a reason the page shows
