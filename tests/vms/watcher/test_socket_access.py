"""Who may open a VM's sockets, and logout closing them."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from vms.choices import VMState
from vms.models import VirtualMachine

from .live import application, close_code, user_with_cookie, ws

pytestmark = pytest.mark.django_db(transaction=True)


def _owned_vm():
    owner, client, cookie = user_with_cookie("owner")
    vm = VirtualMachine.objects.create(name="mine", owner=owner, state=VMState.STOPPED)
    return vm, client, cookie


@pytest.mark.parametrize("suffix", ["", "console/"])
async def test_other_users_and_anonymous_are_refused(suffix):
    vm, _client, _cookie = await sync_to_async(_owned_vm)()
    _other, _other_client, other_cookie = await sync_to_async(user_with_cookie)("other")
    path = f"/ws/vms/{vm.uuid}/{suffix}"
    assert await close_code(await ws(path, other_cookie)) == 4403
    assert await close_code(await ws(path)) == 4401
    assert await close_code(await ws("/ws/vms/00000000-0000-0000-0000-000000000000/", other_cookie)) == 4403


async def test_staff_may_watch_any_vm():
    vm, _client, _cookie = await sync_to_async(_owned_vm)()
    _staff, _c, staff_cookie = await sync_to_async(user_with_cookie)("staff", is_staff=True)
    socket = await ws(f"/ws/vms/{vm.uuid}/", staff_cookie)
    assert (await socket.receive_json_from(timeout=5))["state"] == "stopped"
    await socket.disconnect()


async def test_logout_closes_the_sessions_sockets():
    vm, client, cookie = await sync_to_async(_owned_vm)()
    state_socket = await ws(f"/ws/vms/{vm.uuid}/", cookie)
    console_socket = await ws(f"/ws/vms/{vm.uuid}/console/", cookie)
    await state_socket.receive_json_from(timeout=5)
    await console_socket.receive_json_from(timeout=5)
    await sync_to_async(client.logout)()
    assert await close_code(state_socket) == 4401
    assert await close_code(console_socket) == 4401


async def test_typing_needs_a_console_socket_of_an_authorized_user():
    vm, _client, cookie = await sync_to_async(_owned_vm)()
    communicator = WebsocketCommunicator(application, f"/ws/vms/{vm.uuid}/console/")
    connected, _ = await communicator.connect()
    assert connected and await close_code(communicator) == 4401
