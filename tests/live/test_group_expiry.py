"""Issue 13, hole 8: always-open dashboards went deaf after 24 h (channels_redis `group_expiry`).

A socket re-joins its groups every half of the layer's group_expiry for as long as it is open; with
the expiry shortened to 2 s, sockets still receive broadcasts after 3x that.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from live.broadcast import send_now
from live.groups import user_group
from vms.groups import FLEET, vm_group

from .helpers import login, make_user, make_vm, open_socket, open_vm_socket

pytestmark = pytest.mark.django_db(transaction=True)

EXPIRY_S = 2


@pytest.fixture
def short_group_expiry(settings, private_channel_layer):
    layers = {**private_channel_layer}
    layers["default"] = {**layers["default"], "CONFIG": {**layers["default"]["CONFIG"], "group_expiry": EXPIRY_S}}
    settings.CHANNEL_LAYERS = layers


async def test_sockets_still_receive_broadcasts_after_three_times_the_group_expiry(short_group_expiry):
    assert get_channel_layer().group_expiry == EXPIRY_S

    @sync_to_async
    def setup():
        admin = make_user("boss", is_staff=True)
        return admin, make_vm(admin), login(admin)[1]

    admin, vm, cookie = await setup()
    fleet = await open_socket("/ws/fleet/", cookie)
    vm_socket = await open_vm_socket(f"/ws/vms/{vm.uuid}/", cookie)

    await asyncio.sleep(3 * EXPIRY_S)

    for group, socket in ((FLEET, fleet), (user_group(admin.pk), fleet), (vm_group(vm.uuid), vm_socket)):
        await sync_to_async(send_now)([group], {"type": "vm.state", "vm": str(vm.uuid), "state": group})
        assert (await socket.receive_json_from(timeout=5))["state"] == group
    await fleet.disconnect()
    await vm_socket.disconnect()
