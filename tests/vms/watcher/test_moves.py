"""The watcher follows a VM that moves live to another host: the row never says stopped, paused or
unknown on the way (the domain is paused on one host and then gone from the other), and the console
works again on the new host, for the socket that was open before the move."""

from __future__ import annotations

import asyncio
import json

import libvirt
import pytest
from asgiref.sync import sync_to_async

from vms.choices import VMState
from vms.hypervisor.connection import open_connection
from vms.hypervisor.migration import migrate_live
from vms.models import Host, VirtualMachine
from vms.runners.moves import _moved

from .live import ConsoleReader, demo_domain, remove_domain, user_with_cookie, wait_for, ws

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def _move(vm: VirtualMachine, source: Host, target: Host) -> None:
    """What the move job does around the migration (vms/runners/moves.py), without its disks."""
    VirtualMachine.objects.filter(pk=vm.pk).update(moving_to=target)
    source_conn, target_conn = open_connection(source.uri), open_connection(target.uri)
    try:
        dom = source_conn.lookupByUUIDString(str(vm.uuid))
        flags = libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_MIGRATABLE
        result = migrate_live(
            dom,
            target_conn,
            target_uri=target.uri,
            dest_xml=dom.XMLDesc(flags),
            persist_xml=dom.XMLDesc(flags | libvirt.VIR_DOMAIN_XML_INACTIVE),
            on_progress=lambda _p: None,
            should_cancel=lambda: False,
        )
        _moved(vm, target, result.domain)
    finally:
        source_conn.close()
        target_conn.close()


async def test_a_vm_moved_live_stays_running_on_its_page_and_its_console_follows(fleet_hosts, start_watcher):
    source, target = fleet_hosts[0], fleet_hosts[1]
    owner, _client, cookie = await sync_to_async(user_with_cookie)("owner")
    vm = await sync_to_async(VirtualMachine.objects.create)(
        name="mover", host=source, owner=owner, state=VMState.RUNNING
    )
    with demo_domain(source.uri, vm.uuid):
        try:
            watcher = start_watcher("solo")
            await wait_for(
                lambda: Host.objects.filter(pk__in=[source.pk, target.pk], online=True).count() == 2,
                20,
                "hosts watched",
                watcher.log,
            )
            socket = await ws(f"/ws/vms/{vm.uuid}/console/", cookie)
            console = ConsoleReader(socket)
            await socket.send_to(text_data=json.dumps({"type": "console.input", "data": "\n"}))
            await console.read_until("#", timeout=60)

            seen = set()
            moving = asyncio.ensure_future(asyncio.to_thread(_move, vm, source, target))
            while not moving.done():
                row = await sync_to_async(VirtualMachine.objects.values("state", "host_id").get)(pk=vm.pk)
                seen.add(row["state"])
                await asyncio.sleep(0.05)
            await moving
            await asyncio.sleep(2)  # the events of both hosts have arrived by now
            row = await sync_to_async(VirtualMachine.objects.values("state", "host_id", "moving_to_id").get)(pk=vm.pk)
            assert seen == {VMState.RUNNING}, seen
            assert row == {"state": VMState.RUNNING, "host_id": target.pk, "moving_to_id": None}

            mark = len(console.text)
            await socket.send_to(text_data=json.dumps({"type": "console.input", "data": "echo $((6*7))x\n"}))
            await console.read_until("42x", timeout=30, start=mark)
            await socket.disconnect()
        finally:
            await asyncio.to_thread(remove_domain, target.uri, vm.uuid)
