"""On each real sandbox host: boot the demo guest, talk to it on its serial console, remove it,
and check with an independent client (virsh) that nothing is left."""

from __future__ import annotations

import uuid

import pytest

from sandbox.demo_domain import demo_domain_xml
from sandbox.demo_guest import BANNER, KERNEL_CMDLINE
from sandbox.fleet import POOL_NAME
from tests.support.virsh import virsh
from vms.hypervisor import domains
from vms.hypervisor.connection import open_connection
from vms.hypervisor.console import ConsoleSession
from vms.hypervisor.storage import volume_xml

pytestmark = pytest.mark.sandbox


def test_status_reports_every_host_answering(sandbox_fleet):
    statuses = sandbox_fleet.status()
    assert len(statuses) >= 3
    for status in statuses[:3]:
        assert status.answers, status.line()
        assert "libvirtd" in status.pids and "virtlogd" in status.pids
        assert status.host.uri in status.line() and "answers" in status.line()


@pytest.mark.parametrize("index", [0, 1, 2])
def test_demo_guest_boots_answers_on_console_and_is_removed(sandbox_uris, index):
    uri = sandbox_uris[index]
    name = f"itest-{uuid.uuid4().hex[:8]}"
    vm_uuid = str(uuid.uuid4())
    conn = open_connection(uri)
    pool = conn.storagePoolLookupByName(POOL_NAME)
    vol = pool.createXML(volume_xml(f"{vm_uuid}-disk0.qcow2", 1 << 30, "qcow2"), 0)
    try:
        dom = domains.define(conn, demo_domain_xml(name, vm_uuid, KERNEL_CMDLINE, disk_path=vol.path()), name)
        domains.start(dom)
        assert domains.state_of(dom) == "running"
        assert name in virsh(uri, "list", "--name")

        console = ConsoleSession(conn, dom)
        console.read_until(BANNER, timeout=60)
        mark = len(console.buffer)
        console.write("echo $((6*7))-answer\n")
        text = console.read_until("42-answer", timeout=20, start=mark)
        # The shell computed it: the literal we typed has no "42".
        assert "42-answer" in text[mark:]
        console.close()
    finally:
        dom = domains.find_by_uuid(conn, vm_uuid)
        if dom is not None:
            domains.force_off(dom)
            domains.undefine(dom)
        vol.delete(0)
        conn.close()

    assert name not in virsh(uri, "list", "--all", "--name")
    assert vm_uuid not in virsh(uri, "vol-list", POOL_NAME)
