"""Fixtures for the graphical console: running sandbox domains with and without a VNC display."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from lxml import etree

from sandbox.demo_domain import demo_domain_xml
from sandbox.demo_guest import KERNEL_CMDLINE
from vms.hypervisor import domains
from vms.hypervisor.connection import open_connection

VNC_PASSWORD = "pw-vnc-1"


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database of our own: other suites may run at the same time on this machine."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"graphics{os.getpid()}")


def graphics_domain_xml(name: str, vm_uuid: str, vnc: bool, password: str | None = None, display: str = "vnc") -> str:
    """The demo guest, plus a VNC (or `display="spice"`) display on the host's loopback and a VGA card."""
    root = etree.fromstring(demo_domain_xml(name, vm_uuid, KERNEL_CMDLINE).encode())
    devices = root.find("devices")
    if vnc:
        graphics = etree.SubElement(devices, "graphics", type=display, autoport="yes", listen="127.0.0.1")
        if password:
            graphics.set("passwd", password)
        etree.SubElement(graphics, "listen", type="address", address="127.0.0.1")
        video = etree.SubElement(devices, "video")
        etree.SubElement(video, "model", type="vga")
    return etree.tostring(root, encoding="unicode")


@contextmanager
def running_domain(uri: str, vnc: bool, password: str | None = None, display: str = "vnc") -> Iterator[str]:
    vm_uuid = str(uuid.uuid4())
    name = f"gtest-{vm_uuid[:8]}"
    try:
        conn = open_connection(uri)
        try:
            domains.start(domains.define(conn, graphics_domain_xml(name, vm_uuid, vnc, password, display), name))
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
    """(host URI, domain UUID) of a running guest with a SPICE display (no password) on host 3."""
    with running_domain(sandbox_uris[2], vnc=True, display="spice") as vm_uuid:
        yield sandbox_uris[2], vm_uuid


@pytest.fixture(scope="module")
def plain_domain(sandbox_uris) -> Iterator[tuple[str, str]]:
    """(host URI, domain UUID) of a running guest without any graphics."""
    with running_domain(sandbox_uris[1], vnc=False) as vm_uuid:
        yield sandbox_uris[1], vm_uuid


def live_vnc_port(uri: str, vm_uuid: str) -> int:
    """Read independently of vms.hypervisor.graphics: what `virsh dumpxml` would say."""
    conn = open_connection(uri)
    try:
        root = etree.fromstring(conn.lookupByUUIDString(vm_uuid).XMLDesc(0).encode())
    finally:
        conn.close()
    return int(root.find("devices/graphics[@type='vnc']").get("port"))
