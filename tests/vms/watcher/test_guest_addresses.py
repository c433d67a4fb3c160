"""A guest's address reaches its VM page: a demo guest on the lab network (br0) gets one by DHCP, its
host learns it, the watcher reads it there and keeps it in Redis, and the page shows it."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async

from sandbox.network import LAB_SUBNET_PREFIX
from vms.choices import VMState
from vms.models import VirtualMachine
from vms.watcher.observed import guest_addresses

from .live import demo_domain, user_with_cookie, wait_for

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


async def test_the_address_a_lab_guest_got_is_on_its_page(fleet_hosts, start_watcher, capsys):
    owner, client, _cookie = await sync_to_async(user_with_cookie)("owner")
    host = fleet_hosts[1]
    vm = await sync_to_async(VirtualMachine.objects.create)(
        name="lab-guest", host=host, owner=owner, state=VMState.STOPPED
    )
    watcher = start_watcher("addresses")
    with demo_domain(host.uri, vm.uuid, bridge="br0"):
        started = time.monotonic()
        seen = await wait_for(lambda: guest_addresses(vm.uuid), 60, "an address recorded", watcher.log)
        with capsys.disabled():
            print(f"\nlab guest start -> address on record: {time.monotonic() - started:.1f} s ({seen['source']})")
        [address] = seen["addresses"]
        assert address.startswith(f"{LAB_SUBNET_PREFIX}.") and seen["host"] == host.pk
        await wait_for(lambda: VirtualMachine.objects.get(pk=vm.pk).state == VMState.RUNNING, 30, "running")
        page = (await sync_to_async(client.get)(f"/vms/{vm.uuid}/")).content.decode()
        assert f'<code id="ssh-command">ssh USER@{address}</code>' in page
