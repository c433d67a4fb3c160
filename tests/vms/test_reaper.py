"""The reaper removes what we made that no VM owns, after the grace period, and nothing else."""

from __future__ import annotations

import uuid

import pytest

from sandbox.demo_domain import demo_domain_xml
from sandbox.demo_guest import KERNEL_CMDLINE
from tests.support.virsh import virsh
from vms.choices import VMState
from vms.domainxml.vm import VMSpec, build_vm_domain
from vms.hypervisor import domains
from vms.hypervisor.connection import open_connection
from vms.hypervisor.storage import volume_xml
from vms.models import VirtualMachine
from vms.services.reaper import reap

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]


def test_orphans_reported_then_removed_after_grace_others_untouched(fleet_hosts, demo_template):
    host = fleet_hosts[0]
    conn = open_connection(host.uri)
    pool = conn.storagePoolLookupByName("default")
    orphan_uuid, live_uuid, foreign_uuid = (str(uuid.uuid4()) for _ in range(3))

    def ours(vm_uuid: str, name: str) -> str:
        spec = VMSpec(vm_uuid, name, 1, 64, None, "qcow2", "")
        return build_vm_domain(demo_template.domain_xml, spec).to_xml()

    domains.define(conn, ours(orphan_uuid, "orphan-vm"), "orphan-vm")
    pool.createXML(volume_xml(f"{orphan_uuid}-disk0.qcow2", 1 << 20, "qcow2"), 0)
    domains.define(conn, ours(live_uuid, "live-vm"), "live-vm")
    VirtualMachine.objects.create(uuid=live_uuid, name="live-vm", host=host, state=VMState.STOPPED)
    # Made by someone else with virsh: no mark of ours, never touched.
    domains.define(conn, demo_domain_xml("foreign-vm", foreign_uuid, KERNEL_CMDLINE), "foreign-vm")
    try:
        report = reap(grace=0, dry_run=True)
        found = {(o.item.kind, o.item.vm_uuid) for o in report}
        assert found == {("domain", orphan_uuid), ("volume", orphan_uuid)}
        assert not any(o.removed for o in report)

        kept = reap(grace=3600)
        assert {o.item.vm_uuid for o in kept} == {orphan_uuid} and not any(o.removed for o in kept)
        assert "orphan-vm" in virsh(host.uri, "list", "--all", "--name")

        removed = reap(grace=0)
        assert all(o.removed for o in removed) and len(removed) == 2
        names = virsh(host.uri, "list", "--all", "--name")
        assert "orphan-vm" not in names and "live-vm" in names and "foreign-vm" in names
        assert orphan_uuid not in virsh(host.uri, "vol-list", "default")
        assert reap(grace=0) == []
    finally:
        for vm_uuid in (orphan_uuid, live_uuid, foreign_uuid):
            dom = domains.find_by_uuid(conn, vm_uuid)
            if dom is not None:
                domains.undefine(dom)
        for vol in pool.listAllVolumes(0):
            if vol.name().startswith(orphan_uuid):
                vol.delete(0)
        conn.close()
