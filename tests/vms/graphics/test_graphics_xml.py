"""vms.hypervisor.graphics without a host: reading displays from domain XML, writing .vv files."""

from __future__ import annotations

import configparser

import pytest

from vms.hypervisor.graphics import Graphics, connect_address, first_graphics, graphics_in, virt_viewer_file

LIVE = """<domain type='qemu'><name>x</name><devices>
  <graphics type='spice' port='5901' tlsPort='5902' autoport='yes' listen='0.0.0.0' passwd='s'>
    <listen type='address' address='0.0.0.0'/></graphics>
  <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'>
    <listen type='address' address='127.0.0.1'/></graphics>
  <graphics type='egl-headless'/>
</devices></domain>"""


def test_reads_type_port_listen_and_password():
    spice, vnc = graphics_in(LIVE)
    any_ = "0.0.0.0"  # noqa: S104 (an address read from XML, nothing binds it)
    assert (spice.type, spice.port, spice.tls_port, spice.listen, spice.password) == ("spice", 5901, 5902, any_, "s")
    assert (vnc.type, vnc.port, vnc.listen, vnc.password) == ("vnc", 5900, "127.0.0.1", None)
    assert first_graphics(LIVE, ("vnc",)) == vnc


@pytest.mark.parametrize(
    ("xml", "port", "listen", "socket"),
    [
        ("<graphics type='vnc' port='-1' autoport='yes'/>", None, "", None),  # defined, not running
        ("<graphics type='vnc'><listen type='socket' socket='/run/x.sock'/></graphics>", None, None, "/run/x.sock"),
        ("<graphics type='vnc' port='5905'><listen type='none'/></graphics>", None, None, None),
        (
            "<graphics type='vnc' port='5905'><listen type='network' network='n' address='10.0.0.2'/></graphics>",
            5905,
            "10.0.0.2",
            None,
        ),
    ],
)
def test_listen_variants(xml, port, listen, socket):
    display = first_graphics(f"<domain><devices>{xml}</devices></domain>")
    assert (display.port, display.listen, display.socket) == (port, listen, socket)


def test_no_graphics():
    assert first_graphics("<domain><devices><serial type='pty'/></devices></domain>") is None


def test_connect_address():
    uri = "qemu+ssh://root@kvm1.example/system"
    assert connect_address("0.0.0.0", uri) == "kvm1.example"  # noqa: S104
    assert connect_address("", "qemu:///system") == "127.0.0.1"
    assert connect_address("127.0.0.1", uri) == "127.0.0.1"
    assert connect_address("[::1]", uri) == "::1"
    assert connect_address(None, uri) is None


def test_vv_values_are_escaped_not_pasted():
    display = Graphics("vnc", 5900, None, "127.0.0.1", None, "p", True)
    title = "evil\n[virt-viewer]\nhost=attacker\\x"
    text = virt_viewer_file(display, "127.0.0.1", title)
    assert [line for line in text.splitlines() if line.startswith("[")] == ["[virt-viewer]"]
    assert "\nhost=127.0.0.1\n" in text and "host=attacker\n" not in text
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    section = parser["virt-viewer"]
    assert section["host"] == "127.0.0.1"
    assert section["title"] == "evil\\n[virt-viewer]\\nhost=attacker\\\\x"  # GKeyFile escapes
    assert section["password"] == "p"
    assert "password" not in virt_viewer_file(display, "h", "t", include_password=False)


def test_vv_needs_a_port():
    with pytest.raises(ValueError):
        virt_viewer_file(Graphics("vnc", None, None, None, "/s", None, True), "h", "t")
