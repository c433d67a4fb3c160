"""Integration: adapt son.xml to each sandbox host, define (validated), start, stop, undefine.

Needs the sandbox fleet (`manage.py sandbox up`); `sandbox_uris` comes from tests/conftest.py.
"""

from __future__ import annotations

import uuid

import pytest

from vms.domainxml import Domain
from vms.domainxml.hostcaps import adapt_to_connection, quiet_libvirt_errors
from vms.hypervisor.connection import open_connection

from .helpers import SEED

libvirt = pytest.importorskip("libvirt")

POOL = "default"
VOLUME_XML = (
    "<volume><name>{name}</name><capacity unit='MiB'>8</capacity><target><format type='raw'/></target></volume>"
)


@pytest.mark.sandbox
def test_son_defines_and_starts_on_sandbox_hosts(sandbox_uris):
    quiet_libvirt_errors()
    assert sandbox_uris, "no sandbox hosts"
    for uri in sandbox_uris:
        _define_start_destroy(uri)


def _define_start_destroy(uri: str) -> None:
    conn = open_connection(uri)
    tag = uuid.uuid4()
    name = f"dx-son-{tag.hex[:12]}"
    dom = vol = None
    try:
        son = Domain.from_xml(SEED.read_text())
        son.name = name
        son.uuid = tag
        son.memory = son.current_memory = "256MiB"  # TCG guests on a shared test box: keep it small
        # The provisioner creates disks; here the test does, in the host's pool.
        pool = conn.storagePoolLookupByName(POOL)
        vol = pool.createXML(VOLUME_XML.format(name=f"{name}.img"), 0)
        son.devices.disks[0].source_file = vol.path()
        # Measured on this machine: /dev/kvm is unusable even where capabilities list kvm.
        result = adapt_to_connection(son, conn, virt_types=("qemu",))
        assert any("using 'pc' (i440fx)" in a for a in result.adjustments), result.adjustments
        assert any(a.startswith("The CD-ROM image") for a in result.adjustments), result.adjustments
        adapted = Domain.from_xml(result.xml)
        assert adapted.type == "qemu" and adapted.os.machine == "pc"
        dom = conn.defineXMLFlags(result.xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        dom.create()
        state, _reason = dom.state()
        assert state == libvirt.VIR_DOMAIN_RUNNING, f"{uri}: state {state}"
        assert dom.isActive()
        dom.destroy()
        assert not dom.isActive()
    finally:
        if dom is not None:
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        if vol is not None:
            vol.delete(0)
        conn.close()
