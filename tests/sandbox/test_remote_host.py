"""A sandbox host behaves like a remote machine: reached only at its own address, over SSH with a pinned
host key, and a changed host key is refused by libvirt and by the console tunnel alike.

Runs a fleet of its own (host 8), so replacing a host key does not disturb the shared fleet.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from django.conf import settings

from sandbox.fleet import TCP_PORT, SandboxFleet
from sandbox.pki import SandboxCA
from vms.hypervisor import ssh
from vms.hypervisor.connection import open_connection
from vms.hypervisor.errors import HostUnreachable
from vms.hypervisor.tunnel import TunnelError, open_tunnel
from vms.services import ssh_trust

pytestmark = pytest.mark.sandbox


@pytest.fixture
def lone_host(tmp_path):
    # Host 8 with the default numbering; another fleet (SANDBOX_FIRST_INDEX) moves it along.
    fleet = SandboxFleet(tmp_path / "fleet", first_index=settings.SANDBOX_FIRST_INDEX + 7)
    host = fleet.host(1)
    try:
        [status] = fleet.up(1)
        assert status.answers, status.error
        yield fleet, host
    finally:
        fleet.down()
        ssh.forget(fleet.identity, host.address)


def _tunnel_reaches(uri: str, address: str, port: int) -> bytes:
    async def go() -> bytes:
        tunnel = await open_tunnel(uri, ssh.identity(), address, port)
        try:
            # libvirtd's RPC port says nothing first; SSH's does: ask the host's own sshd through itself.
            return await asyncio.wait_for(tunnel.reader.read(64), 5)
        finally:
            await tunnel.close()

    return asyncio.run(go())


def test_the_host_is_reached_at_its_address_and_its_loopback_is_its_own(lone_host):
    fleet, host = lone_host
    conn = open_connection(host.uri)  # qemu+ssh, through the project's key and known_hosts
    try:
        assert conn.getHostname()
    finally:
        conn.close()
    # From this machine the host's daemons answer at its address only: its 127.0.0.1 is not ours.
    with socket.create_connection((host.address, TCP_PORT), timeout=2):
        pass
    # Through the tunnel, 127.0.0.1 is the host's own loopback: its sshd listens on its address, not
    # there, so the host refuses; its address answers with an SSH banner.
    assert _tunnel_reaches(host.uri, host.address, 22).startswith(b"SSH-2.0-")
    with pytest.raises(TunnelError):
        _tunnel_reaches(host.uri, "127.0.0.1", 22)


def test_a_changed_host_key_is_refused_by_libvirt_and_by_the_console_tunnel(lone_host):
    fleet, host = lone_host
    pinned = ssh.pinned_key(ssh.identity(), host.address)
    assert pinned is not None
    fleet.replace_host_key(1)
    offered = ssh.scan_host_key(host.address)
    assert offered.fingerprint != pinned.fingerprint
    with pytest.raises(HostUnreachable) as refused:
        open_connection(host.uri)
    assert "host key verification failed" in str(refused.value).lower()
    assert "keyfile" not in str(refused.value)  # the URI as the admin wrote it, not ours
    with pytest.raises(TunnelError) as tunnel_refused:
        _tunnel_reaches(host.uri, host.address, 22)
    assert "not the one pinned" in str(tunnel_refused.value)
    # Confirming the new key (what the admin does on the host page) lets both through again.
    ssh.pin(ssh.identity(), offered)
    open_connection(host.uri).close()
    assert _tunnel_reaches(host.uri, host.address, 22).startswith(b"SSH-2.0-")


def test_a_tls_host_whose_certificate_we_do_not_trust_gets_a_sentence(lone_host, tmp_path):
    """The same host over qemu+tls: our CA's client certificate works; another CA's is refused, and a
    missing TLS folder is named, each in one sentence that says what to do."""
    fleet, host = lone_host
    open_connection(fleet.tls_uri(host)).close()
    other = SandboxCA(tmp_path / "other-ca")
    other.issue(tmp_path / "other-client", "someone-else")
    for pki, expected in (
        (tmp_path / "other-client", "do not trust each other's TLS certificates"),
        (tmp_path / "nowhere", "lacks its TLS files"),
    ):
        uri = host.tls_uri(pki)
        with pytest.raises(HostUnreachable) as refused:
            open_connection(uri)
        said = ssh_trust.explain(refused.value, uri)
        assert expected in said and host.address in said, said
