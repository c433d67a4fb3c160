"""A demo guest on the host's NAT network `default` gets an address from libvirt's dnsmasq; the watcher
reads the lease, sends it live to the VM's page (`vm.addresses`, by MAC), and the API shows the same
address that `virsh domifaddr --source lease` shows on the host."""

from __future__ import annotations

import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from sandbox.demo_domain import demo_domain_xml
from sandbox.demo_guest import KERNEL_CMDLINE
from tests.support.virsh import virsh
from vms.choices import VMState
from vms.hypervisor import domains
from vms.hypervisor.connection import open_connection
from vms.models import VirtualMachine

from .live import receive_until, remove_domain, user_with_cookie, ws

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def _define_on_default(vm: VirtualMachine) -> None:
    """The demo guest with one NIC on `default`, under the VM's UUID; the VM row keeps its XML (with the
    MAC libvirt gave), as a provisioned VM's does."""
    name = f"wtest-{uuid.uuid4().hex[:8]}"
    conn = open_connection(vm.host.uri)
    try:
        dom = domains.define(conn, demo_domain_xml(name, str(vm.uuid), KERNEL_CMDLINE, network="default"), name)
        VirtualMachine.objects.filter(pk=vm.pk).update(domain_xml=domains.saved_xml(dom))
        domains.start(dom)
    finally:
        conn.close()


def _lease(uri: str, vm_uuid: object) -> dict[str, list[str]]:
    """`virsh domifaddr --source lease`, as {mac: [address without prefix]}."""
    found: dict[str, list[str]] = {}
    for line in virsh(uri, "domifaddr", str(vm_uuid), "--source", "lease").splitlines()[2:]:
        parts = line.split()
        if len(parts) == 4 and parts[2] == "ipv4":
            found.setdefault(parts[1].lower(), []).append(parts[3].split("/")[0])
    return found


async def test_a_guest_on_default_shows_its_lease_live_and_in_the_api(fleet_hosts, start_watcher, capsys):
    owner, _client, cookie = await sync_to_async(user_with_cookie)("nic-owner")
    host = fleet_hosts[0]
    vm = await sync_to_async(VirtualMachine.objects.create)(
        name="nat-guest", host=host, owner=owner, state=VMState.STOPPED
    )
    communicator = await ws(f"/ws/vms/{vm.uuid}/", cookie)
    watcher = start_watcher("nic-addresses")
    try:
        started = time.monotonic()
        await sync_to_async(_define_on_default)(vm)
        message = await receive_until(
            communicator, lambda m: m.get("type") == "vm.addresses" and m.get("vm") == str(vm.uuid), 90
        )
        with capsys.disabled():
            print(f"\nguest on default: start -> address on the page: {time.monotonic() - started:.1f} s")
        [(mac, addresses)] = message["addresses"].items()
        assert addresses and addresses[0].startswith("192.168.122."), message

        lease = await sync_to_async(_lease)(host.uri, vm.uuid)
        assert lease == {mac: addresses}, (lease, message, watcher.log())

        api = APIClient()
        api.force_authenticate(owner)
        body = (await sync_to_async(api.get)(f"/api/v1/vms/{vm.pk}/")).json()
        assert body["addresses"] == lease
        [nic] = body["interfaces"]
        assert nic["mac"] == mac and nic["source"] == "default" and nic["addresses"] == addresses
        listed = (await sync_to_async(api.get)(f"/api/v1/vms/{vm.pk}/interfaces/")).json()
        assert listed == [nic]
    finally:
        await communicator.disconnect()
        await sync_to_async(remove_domain)(host.uri, vm.uuid)
