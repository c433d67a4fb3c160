"""`sandbox up/status/down` on a fleet of its own (host 9 past this checkout's first host), so the
shared fleet keeps running."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from sandbox import network
from sandbox.demo_domain import demo_domain_xml
from sandbox.demo_guest import KERNEL_CMDLINE
from sandbox.fleet import SandboxFleet, _pids_in_ns
from tests.support.virsh import virsh
from vms.hypervisor import domains
from vms.hypervisor.connection import open_connection

pytestmark = pytest.mark.sandbox


def _mounts_mentioning(path: Path) -> list[str]:
    found = []
    for mounts in Path("/proc").glob("[0-9]*/mounts"):
        try:
            found += [line for line in mounts.read_text().splitlines() if str(path) in line]
        except OSError:
            continue
    return found


def _links_in(netns: str) -> str:
    return subprocess.run(["ip", "-n", netns, "-o", "link", "show"], capture_output=True, text=True).stdout


def test_up_twice_status_and_down_leave_nothing(tmp_path, sandbox_fleet):
    # Host 9 with the default numbering; another checkout's (SANDBOX_FIRST_INDEX) moves it along.
    index = settings.SANDBOX_FIRST_INDEX + 8
    fleet = SandboxFleet(tmp_path / "fleet", first_index=index)
    try:
        [first] = fleet.up(1, dict(sandbox_fleet.demo_files))
        assert first.answers and first.host.uri == f"qemu+ssh://root@10.213.0.{10 + index}/system"
        assert network.netns_exists(index)
        # The seed's bridge: br0 enslaving em1, linked to the fleet's lab switch, where dnsmasq serves.
        links = _links_in(network.netns_name(index))
        assert " br0:" in links and re.search(r" em1@\S+: .* master br0 ", links), links
        assert network.lab_exists(fleet.lab) and network.lab_ports(fleet.lab) == [network.lab_port_name(index)]
        dnsmasq = network.dnsmasq_pid(fleet.lab_dir)
        assert dnsmasq is not None
        assert set(first.pids) == {"libvirtd", "virtlogd", "sshd"}
        # The same host over each transport a real fleet uses: SSH (above), TLS with the sandbox CA, TCP.
        for uri in (fleet.tls_uri(first.host), first.host.tcp_uri):
            conn = open_connection(uri)
            assert conn.getLibVersion() > 0
            conn.close()
        [again] = fleet.up(1)
        assert again.pids == first.pids, "a second 'up' must not start another daemon"
        assert len([s for s in fleet.status() if s.answers]) == 1

        # A running guest belongs to the host too: 'down' must stop it.
        conn = open_connection(first.host.uri)
        vm_uuid = str(uuid.uuid4())
        dom = domains.define(conn, demo_domain_xml("lifecycle", vm_uuid, KERNEL_CMDLINE), "lifecycle")
        domains.start(dom)
        conn.close()
        ns = Path(f"/proc/{first.pids['libvirtd']}/ns/mnt").readlink().as_posix()
        assert len(_pids_in_ns(ns)) >= 3  # libvirtd, virtlogd, qemu
        assert "lifecycle" in virsh(first.host.uri, "list", "--name")
    finally:
        stopped = fleet.down()

    assert stopped and "stopped" in stopped[0]
    assert _pids_in_ns(ns) == []
    assert _mounts_mentioning(tmp_path) == []
    assert not network.netns_exists(index)  # and with it the host's end of the veth pair
    assert subprocess.run(["ip", "link", "show", network.veth_name(index)], capture_output=True).returncode != 0
    # The lab went with the fleet's last host: its namespace, its switch and its dnsmasq.
    assert not network.lab_exists(fleet.lab)
    assert not Path(f"/proc/{dnsmasq}").exists() or network.dnsmasq_pid(fleet.lab_dir) is None
    assert any("dnsmasq" in line for line in stopped)
    [status] = fleet.status()
    assert not status.answers and status.pids == {}
    assert fleet.down() == []  # nothing left to stop
