"""Fixtures for the graphical console: running sandbox domains with and without a VNC display.

Displays listen on their sandbox host's own address (127.0.0.1N, the host of its URI), the only one the
relay connects to, and have a password, which the relay answers itself; `loopback_domain` is the hole
this guards against: a display that claims 127.0.0.1 on a host reached at another address.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import urlsplit

import pytest
from lxml import etree

from sandbox.demo_domain import demo_domain_xml
from sandbox.demo_guest import KERNEL_CMDLINE
from vms.hypervisor import domains, ssh
from vms.hypervisor.connection import open_connection
from vms.hypervisor.graphics import listen_address_for, through_ssh
from vms.hypervisor.tunnel import open_tunnel

VNC_PASSWORD = "pw-vnc-1"
SPICE_PASSWORD = "pw-spice-0123456789"


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database of our own: other suites may run at the same time on this machine."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"graphics{os.getpid()}")


def graphics_domain_xml(
    name: str,
    vm_uuid: str | None,
    vnc: bool,
    password: str | None = None,
    display: str = "vnc",
    listen: str = "127.0.0.1",
    cmdline: str = KERNEL_CMDLINE,
) -> str:
    """The demo guest, plus a VNC (or `display="spice"`) display listening on `listen` and a VGA card."""
    root = etree.fromstring(demo_domain_xml(name, vm_uuid, cmdline).encode())
    devices = root.find("devices")
    if vnc:
        graphics = etree.SubElement(devices, "graphics", type=display, autoport="yes", listen=listen)
        if password:
            graphics.set("passwd", password)
        etree.SubElement(graphics, "listen", type="address", address=listen)
        video = etree.SubElement(devices, "video")
        etree.SubElement(video, "model", type="vga")
    return etree.tostring(root, encoding="unicode")


@contextmanager
def running_domain(
    uri: str,
    vnc: bool,
    password: str | None = None,
    display: str = "vnc",
    listen: str | None = None,
    cmdline: str = KERNEL_CMDLINE,
) -> Iterator[str]:
    """A running guest; its display listens on `listen`, by default where the product puts a new VM's
    display (listen_address_for): an SSH host's own loopback, a TCP/TLS host's address."""
    vm_uuid = str(uuid.uuid4())
    name = f"gtest-{vm_uuid[:8]}"
    listen = listen or listen_address_for(uri)
    try:
        conn = open_connection(uri)
        try:
            xml = graphics_domain_xml(name, vm_uuid, vnc, password, display, listen, cmdline)
            domains.start(domains.define(conn, xml, name))
        finally:
            conn.close()
        yield vm_uuid
    finally:
        conn = open_connection(uri)
        try:
            dom = domains.find_by_uuid(conn, vm_uuid)
            if dom is not None:
                domains.force_off(dom)
                domains.undefine(dom)
        finally:
            conn.close()


@pytest.fixture(scope="module")
def vnc_domain(sandbox_uris) -> Iterator[tuple[str, str]]:
    """(host URI, domain UUID) of a running guest with a password-protected VNC display."""
    with running_domain(sandbox_uris[0], vnc=True, password=VNC_PASSWORD) as vm_uuid:
        yield sandbox_uris[0], vm_uuid


@pytest.fixture(scope="module")
def spice_domain(sandbox_uris) -> Iterator[tuple[str, str]]:
    """(host URI, domain UUID) of a running guest with a password-protected SPICE display on host 3."""
    with running_domain(sandbox_uris[2], vnc=True, password=SPICE_PASSWORD, display="spice") as vm_uuid:
        yield sandbox_uris[2], vm_uuid


@pytest.fixture(scope="module")
def loopback_domain(sandbox_tcp_uris) -> Iterator[tuple[str, str]]:
    """(host URI, domain UUID) of a running guest on host 2 whose VNC display claims listen='127.0.0.1',
    the host being reached over qemu+tcp at 10.213.0.12: for the relay, 127.0.0.1 would be the web
    server's own loopback, not the host's (over SSH it would be the host's, through its sshd)."""
    with running_domain(sandbox_tcp_uris[1], vnc=True, password=VNC_PASSWORD, listen="127.0.0.1") as vm_uuid:
        yield sandbox_tcp_uris[1], vm_uuid


@pytest.fixture(scope="module")
def plain_domain(sandbox_uris) -> Iterator[tuple[str, str]]:
    """(host URI, domain UUID) of a running guest without any graphics."""
    with running_domain(sandbox_uris[1], vnc=False) as vm_uuid:
        yield sandbox_uris[1], vm_uuid


def live_display(uri: str, vm_uuid: str, display: str = "vnc") -> etree._Element:
    """The live <graphics> element with its password, read independently of vms.hypervisor.graphics:
    what `virsh dumpxml --security-info` would say."""
    import libvirt

    conn = open_connection(uri)
    try:
        xml = conn.lookupByUUIDString(vm_uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
    finally:
        conn.close()
    return etree.fromstring(xml.encode()).find(f"devices/graphics[@type='{display}']")


def live_vnc_port(uri: str, vm_uuid: str) -> int:
    """Read independently of vms.hypervisor.graphics: what `virsh dumpxml` would say."""
    return int(live_display(uri, vm_uuid).get("port"))


@asynccontextmanager
async def display_stream(uri: str, port: int) -> AsyncIterator[tuple]:
    """(reader, writer) straight to a display, not through the relay: what a native client gets with an
    SSH tunnel to an SSH host (its display listens on the host's loopback), or a plain TCP connection."""
    if through_ssh(uri):
        tunnel = await open_tunnel(uri, ssh.identity(), "127.0.0.1", port)
        try:
            yield tunnel.reader, tunnel.writer
        finally:
            await tunnel.close()
        return
    reader, writer = await asyncio.open_connection(urlsplit(uri).hostname, port)
    try:
        yield reader, writer
    finally:
        writer.close()
