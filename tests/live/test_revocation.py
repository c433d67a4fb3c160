"""Issue 13, hole 2: open sockets keep rights that were taken away.

Revoking a share, lowering it to view, leaving the operators group, deactivating a user or changing
their password closes (or downgrades) that user's open VM, console and fleet sockets at once; console
input is re-checked on a cheap cached path. (The job socket: tests/jobs/test_consumer.py; the VNC and
SPICE relays: tests/vms/graphics/test_graphics_revocation.py.)
"""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth.models import Group
from django.db import transaction

from live.broadcast import send_now
from live.redis import async_redis
from vms.choices import ShareLevel
from vms.consumers.vm import ConsoleConsumer
from vms.groups import FLEET
from vms.models import VMShare
from vms.permissions import OPERATORS_GROUP
from vms.services import sharing
from vms.watcher.store import console_input_channel

from .helpers import closed_with, login, make_operator, make_user, make_vm, open_socket, open_vm_socket, still_open

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def shared_vm(level: str):
    """alice's VM shared with bob at `level`; (alice, bob, vm, alice's cookie, bob's cookie)."""
    alice, bob = make_user("alice"), make_user("bob")
    vm = make_vm(alice)
    sharing.share_vm(alice, vm, "bob", level)
    return alice, bob, vm, login(alice)[1], login(bob)[1]


class Keystrokes:
    """What reaches the watchers: the Redis pub/sub channel a console publishes keystrokes on."""

    def __init__(self, vm_uuid) -> None:
        self.channel = console_input_channel(vm_uuid)
        self.pubsub = async_redis().pubsub()

    async def __aenter__(self) -> Keystrokes:
        await self.pubsub.subscribe(self.channel)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.pubsub.unsubscribe(self.channel)
        await self.pubsub.aclose()

    async def next(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
            if message is not None:
                return message["data"]
        return None


async def test_revoking_a_share_closes_the_users_open_vm_and_console_sockets():
    alice, _bob, vm, alice_cookie, bob_cookie = await shared_vm(ShareLevel.OPERATE)
    bob_state = await open_vm_socket(f"/ws/vms/{vm.uuid}/", bob_cookie)
    bob_console = await open_vm_socket(f"/ws/vms/{vm.uuid}/console/", bob_cookie)
    alice_state = await open_vm_socket(f"/ws/vms/{vm.uuid}/", alice_cookie)

    share = await sync_to_async(VMShare.objects.select_related("vm", "user").get)(vm=vm)
    started = time.monotonic()
    await sync_to_async(sharing.unshare_vm)(alice, share)

    assert (await closed_with(bob_state))[0] == 4403
    assert (await closed_with(bob_console))[0] == 4403
    assert time.monotonic() - started < 2
    assert await still_open(alice_state)  # the owner keeps hers
    await alice_state.disconnect()


async def test_lowering_a_share_to_view_drops_console_input_and_tells_the_page():
    alice, _bob, vm, _alice_cookie, bob_cookie = await shared_vm(ShareLevel.OPERATE)
    console = await open_vm_socket(f"/ws/vms/{vm.uuid}/console/", bob_cookie)
    async with Keystrokes(vm.uuid) as keystrokes:
        await console.send_json_to({"type": "console.input", "data": "before"})
        assert await keystrokes.next(timeout=5) == b"before"

        await sync_to_async(sharing.share_vm)(alice, vm, "bob", ShareLevel.VIEW)
        notice = await console.receive_json_from(timeout=5)
        assert (notice["type"], notice["may_type"]) == ("console.access", False)
        assert (await console.receive_json_from(timeout=5))["type"] == "error"  # shown in the terminal

        await console.send_json_to({"type": "console.input", "data": "after"})
        assert (await console.receive_json_from(timeout=5))["type"] == "error"
        assert await keystrokes.next(timeout=1) is None
    assert await still_open(console)  # still watching
    await console.disconnect()


async def test_console_input_rechecks_rights_changed_without_a_signal(monkeypatch):
    """QuerySet.update() sends no signal: the input path re-reads the right every input_recheck_s."""
    monkeypatch.setattr(ConsoleConsumer, "input_recheck_s", 0.3)
    _alice, bob, vm, _alice_cookie, bob_cookie = await shared_vm(ShareLevel.OPERATE)
    console = await open_vm_socket(f"/ws/vms/{vm.uuid}/console/", bob_cookie)
    async with Keystrokes(vm.uuid) as keystrokes:
        await console.send_json_to({"type": "console.input", "data": "before"})
        assert await keystrokes.next(timeout=5) == b"before"
        await sync_to_async(VMShare.objects.filter(vm=vm, user=bob).update)(level=ShareLevel.VIEW)
        await asyncio.sleep(0.4)
        await console.send_json_to({"type": "console.input", "data": "after"})
        frames = [await console.receive_json_from(timeout=5) for _ in range(2)]
        assert ("console.access", False) in {(f["type"], f.get("may_type")) for f in frames}
        assert await keystrokes.next(timeout=1) is None
    await console.disconnect()


@pytest.mark.parametrize("side", ["user.groups", "group.user_set"])
async def test_leaving_the_operators_group_closes_vm_sockets_and_stops_the_fleet_feed(side):
    @sync_to_async
    def setup():
        owner, operator, admin = make_user("owner"), make_operator("oper"), make_user("boss", is_staff=True)
        return operator, make_vm(owner), login(operator)[1], login(admin)[1]

    operator, vm, operator_cookie, admin_cookie = await setup()
    vm_socket = await open_vm_socket(f"/ws/vms/{vm.uuid}/", operator_cookie)
    console = await open_vm_socket(f"/ws/vms/{vm.uuid}/console/", operator_cookie)
    operator_fleet = await open_socket("/ws/fleet/", operator_cookie)
    admin_fleet = await open_socket("/ws/fleet/", admin_cookie)

    @sync_to_async
    def leave():
        group = Group.objects.get(name=OPERATORS_GROUP)
        if side == "user.groups":
            operator.groups.remove(group)
        else:
            group.user_set.remove(operator)

    await leave()
    assert (await closed_with(vm_socket))[0] == 4403
    assert (await closed_with(console))[0] == 4403
    assert await operator_fleet.receive_json_from(timeout=5) == {"type": "access.changed", "sees_all": False}

    await sync_to_async(send_now)([FLEET], {"type": "vm.state", "vm": str(vm.uuid), "state": "running"})
    assert (await admin_fleet.receive_json_from(timeout=5))["state"] == "running"
    assert await operator_fleet.receive_nothing(timeout=0.5)  # no longer on the fleet feed
    for socket in (operator_fleet, admin_fleet):
        await socket.disconnect()


async def test_deactivating_a_user_closes_all_their_sockets():
    @sync_to_async
    def setup():
        bob = make_user("bob")
        return bob, make_vm(bob), login(bob)[1], login(bob)[1]

    bob, vm, first_session, second_session = await setup()
    sockets = [
        await open_vm_socket(f"/ws/vms/{vm.uuid}/", first_session),
        await open_vm_socket(f"/ws/vms/{vm.uuid}/console/", second_session),
        await open_socket("/ws/fleet/", second_session),
    ]

    @sync_to_async
    def deactivate():
        bob.is_active = False
        bob.save()

    await deactivate()
    for socket in sockets:
        assert (await closed_with(socket))[0] == 4401


async def test_changing_the_password_closes_the_other_sessions_sockets():
    @sync_to_async
    def setup():
        bob = make_user("bob")
        keep_client, keep_cookie = login(bob)
        return bob, make_vm(bob), keep_client, keep_cookie, login(bob)[1]

    bob, vm, keep_client, keep_cookie, other_cookie = await setup()
    other_state = await open_vm_socket(f"/ws/vms/{vm.uuid}/", other_cookie)
    other_fleet = await open_socket("/ws/fleet/", other_cookie)
    kept_state = await open_vm_socket(f"/ws/vms/{vm.uuid}/", keep_cookie)

    @sync_to_async
    def change_password():
        # As Django's password change view does: save, then update_session_auth_hash for its session.
        with transaction.atomic():
            bob.set_password("a-new-pw-0123456789")
            bob.save()
            session = keep_client.session
            session[HASH_SESSION_KEY] = bob.get_session_auth_hash()
            session.save()

    await change_password()
    assert (await closed_with(other_state))[0] == 4401
    assert (await closed_with(other_fleet))[0] == 4401
    assert await still_open(kept_state)  # the session that changed it stays logged in
    await kept_state.disconnect()
