"""Live VM and host states: libvirt event -> watcher -> database -> websocket; host loss and return."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async

from tests.support.virsh import virsh_args
from vms.choices import VMState
from vms.models import Host, VirtualMachine
from vms.watcher.observed import recent_stats

from .live import ConsoleReader, demo_domain, receive_until, user_with_cookie, wait_for, ws

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def _state(vm_id: int) -> str:
    return VirtualMachine.objects.get(pk=vm_id).state


def _new_vm(host: Host, owner, state: str = VMState.STOPPED) -> VirtualMachine:
    return VirtualMachine.objects.create(name=f"live-{host.pk}", host=host, owner=owner, state=state)


async def test_virsh_destroy_reaches_the_owners_socket_within_a_second(fleet_hosts, start_watcher, capsys):
    test_host = await sync_to_async(Host.objects.create)(name="test-driver", uri="test:///default")
    owner, _client, cookie = await sync_to_async(user_with_cookie)("owner")
    host = fleet_hosts[0]
    vm = await sync_to_async(_new_vm)(host, owner)
    with demo_domain(host.uri, vm.uuid) as name:
        watcher = start_watcher("solo")
        # The resync on connect finds the running domain although the row said stopped.
        await wait_for(lambda: _state(vm.pk) == VMState.RUNNING, 30, "resync to running", watcher.log)
        socket = await ws(f"/ws/vms/{vm.uuid}/", cookie)
        snapshot = await socket.receive_json_from(timeout=5)
        assert snapshot == {"type": "vm.state", "vm": str(vm.uuid), "state": "running", "host": host.pk}

        started = time.monotonic()
        virsh = await asyncio.create_subprocess_exec(
            *virsh_args(host.uri, "destroy", name), stdout=asyncio.subprocess.DEVNULL
        )
        virsh_done: list[float] = []

        async def virsh_exit() -> int:
            # Stamped in the task itself: a done-callback may not have run yet when `await waiter` returns
            # (awaiting a task that has already finished does not yield), which once left this list empty.
            code = await virsh.wait()
            virsh_done.append(time.monotonic())
            return code

        waiter = asyncio.create_task(virsh_exit())
        message = await receive_until(socket, lambda m: m.get("state") == "stopped", timeout=10)
        received = time.monotonic()
        assert await waiter == 0
        after_exit = received - virsh_done[0]
        with capsys.disabled():
            print(
                f"\nvirsh destroy -> websocket: {received - started:.3f} s from the start of virsh, "
                f"{after_exit:+.3f} s after it exited"
            )
        assert message == {"type": "vm.state", "vm": str(vm.uuid), "state": "stopped", "host": host.pk}
        assert after_exit < 1.0
        assert await sync_to_async(_state)(vm.pk) == VMState.STOPPED
        await socket.disconnect()

    # A test:/// host has no keepalive and no console but is tracked all the same, its domain discovered.
    def test_host_tracked() -> bool:
        test_host.refresh_from_db()
        return (
            test_host.online
            and VirtualMachine.objects.filter(host=test_host, managed=False, owner=None, state=VMState.RUNNING).exists()
        )

    await wait_for(test_host_tracked, 10, "test:/// host tracked", watcher.log)
    assert test_host.capabilities["hypervisor"] == "TEST"


async def test_lost_daemon_marks_host_offline_and_its_return_resyncs(fleet_hosts, start_watcher, sandbox_fleet):
    host = fleet_hosts[2]
    owner, _client, cookie = await sync_to_async(user_with_cookie)("owner")
    vm = await sync_to_async(_new_vm)(host, owner)

    def host_online(expected: bool) -> bool:
        return Host.objects.get(pk=host.pk).online is expected

    with demo_domain(host.uri, vm.uuid):
        watcher = start_watcher("solo")
        await wait_for(lambda: _state(vm.pk) == VMState.RUNNING and host_online(True), 30, "running", watcher.log)
        # Two stats samples make a rate: CPU % appears on the second.
        await wait_for(
            lambda: any(p["cpu_percent"] is not None for p in recent_stats(vm.uuid)), 15, "stats", watcher.log
        )
        assert (await sync_to_async(recent_stats)(vm.uuid))[-1]["memory_total_mib"] > 0
        try:
            assert sandbox_fleet.kill_libvirtd(3)
            killed = time.monotonic()
            await wait_for(lambda: host_online(False) and _state(vm.pk) == VMState.UNKNOWN, 5, "offline", watcher.log)
            assert time.monotonic() - killed < 5
            assert await sync_to_async(lambda: Host.objects.get(pk=host.pk).last_error)()
        finally:
            await asyncio.to_thread(sandbox_fleet.up, 3)
        # The guest kept running without its daemon; the reconnect's resync says so.
        await wait_for(lambda: host_online(True) and _state(vm.pk) == VMState.RUNNING, 30, "back", watcher.log)
        # The console relay came back with the connection.
        socket = await ws(f"/ws/vms/{vm.uuid}/console/", cookie)
        await receive_until(socket, lambda m: m["type"] == "console.state" and m["open"], timeout=40)
        console = ConsoleReader(socket)
        await console.communicator.send_to(text_data=json.dumps({"type": "console.input", "data": "echo $((7*6))y\n"}))
        await console.read_until("42y", timeout=30, start=len(console.text))
        await console.communicator.disconnect()
