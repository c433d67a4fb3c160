"""The serial console through websockets: live boot, scrollback for late viewers, typed commands."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from sandbox.demo_guest import BANNER
from vms.choices import VMState
from vms.models import Host, VirtualMachine

from .live import ConsoleReader, demo_domain, start_domain, user_with_cookie, wait_for, ws

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


async def test_console_shows_the_boot_to_early_and_late_viewers_and_runs_commands(fleet_hosts, start_watcher):
    host = fleet_hosts[1]
    owner, _client, cookie = await sync_to_async(user_with_cookie)("owner")
    vm = await sync_to_async(VirtualMachine.objects.create)(
        name="console", host=host, owner=owner, state=VMState.STOPPED
    )
    with demo_domain(host.uri, vm.uuid, start=False):
        watcher = start_watcher("solo")
        await wait_for(lambda: Host.objects.get(pk=host.pk).online, 20, "host watched", watcher.log)
        early = ConsoleReader(await ws(f"/ws/vms/{vm.uuid}/console/", cookie))
        await asyncio.to_thread(start_domain, host.uri, vm.uuid)
        await early.read_until(BANNER, timeout=60)
        assert early.first["scrollback"] is True

        # Joins after the boot: the scrollback carries the banner.
        late_socket = await ws(f"/ws/vms/{vm.uuid}/console/", cookie)
        scrollback = await late_socket.receive_json_from(timeout=5)
        assert scrollback["type"] == "console.output" and scrollback["scrollback"] is True
        assert BANNER in scrollback["data"]
        late = ConsoleReader(late_socket)

        mark_early, mark_late = len(early.text), len(late.text)
        await late_socket.send_to(text_data=json.dumps({"type": "console.input", "data": "echo $((6*7))x\n"}))
        # The shell computed it (the typed line has no "42x"), and every viewer sees it.
        await late.read_until("42x", timeout=30, start=mark_late)
        await early.read_until("42x", timeout=10, start=mark_early)

        # A guest reboot: the relay keeps (or reopens) the console and the new boot shows up.
        mark_late = len(late.text)
        await late_socket.send_to(text_data=json.dumps({"type": "console.input", "data": "reboot -f\n"}))
        await late.read_until(BANNER, timeout=60, start=mark_late)
        mark_late = len(late.text)
        await late_socket.send_to(bytes_data=b"echo $((5*5))z\n")
        await late.read_until("25z", timeout=30, start=mark_late)
        await early.communicator.disconnect()
        await late_socket.disconnect()
