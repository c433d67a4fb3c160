"""Boot order, kernel boot and hand edits in the domain XML engine (pure logic, no libvirt)."""

from __future__ import annotations

import uuid

import pytest
from lxml import etree

from vms.domainxml import Domain, InvalidValueError, is_valid
from vms.domainxml.boot import boot_summary, set_boot_order, set_kernel
from vms.domainxml.edit import identity_problems, keep_display_passwords, parse_edit, unified_diff

UUID = str(uuid.uuid4())


def bios_xml(per_device: bool = False) -> str:
    disk_boot = "<boot order='2'/>" if per_device else ""
    cd_boot = "<boot order='1'/>" if per_device else ""
    os_boot = "" if per_device else "<boot dev='hd'/>"
    return f"""<domain type='qemu'><name>b1</name><uuid>{UUID}</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type>{os_boot}</os>
<devices>
<disk type='file' device='disk'><source file='/var/lib/x.qcow2'/><target dev='vda' bus='virtio'/>{disk_boot}</disk>
<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/>{cd_boot}</disk>
<graphics type='vnc' autoport='yes' passwd='secret12'/>
</devices></domain>"""


KERNEL_XML = f"""<domain type='qemu'><name>k1</name><uuid>{UUID}</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>/boot/vmlinuz</kernel><initrd>/boot/initrd</initrd>
<cmdline>console=ttyS0</cmdline></os><devices/></domain>"""


def test_summary_reads_os_boot_and_per_device_order():
    assert boot_summary(bios_xml()).as_dict() == {"mode": "bios", "order": ["hd"], "menu": False}
    assert boot_summary(bios_xml(per_device=True)).order == ("cdrom", "hd")
    assert boot_summary(KERNEL_XML).as_dict() == {
        "mode": "kernel",
        "kernel": "/boot/vmlinuz",
        "initrd": "/boot/initrd",
        "cmdline": "console=ttyS0",
    }
    assert boot_summary("") is None
    assert boot_summary("<not-xml") is None


def test_set_boot_order_drops_per_device_orders_and_stays_valid():
    dom = Domain.from_xml(bios_xml(per_device=True))
    set_boot_order(dom, ["network", "cdrom", "hd"], True)
    root = dom.element
    assert [b.get("dev") for b in root.findall("os/boot")] == ["network", "cdrom", "hd"]
    assert root.find("os/bootmenu").get("enable") == "yes"
    assert root.findall("devices/*/boot") == []
    assert is_valid(dom)
    set_boot_order(dom, ["hd"], False)
    assert boot_summary(dom.to_xml()).as_dict() == {"mode": "bios", "order": ["hd"], "menu": False}


@pytest.mark.parametrize("order", [[], ["hd", "hd"], ["floppy"], "hd", ["fd"]])
def test_bad_boot_orders_are_refused(order):
    dom = Domain.from_xml(bios_xml())
    with pytest.raises(InvalidValueError):
        set_boot_order(dom, order, False)


def test_kernel_values_are_text_never_markup():
    dom = Domain.from_xml(KERNEL_XML)
    set_kernel(dom, "/boot/other", "", "console=ttyS0 x=</cmdline><evil/> & y")
    root = etree.fromstring(dom.to_xml().encode())
    assert root.findtext("os/kernel") == "/boot/other"
    assert root.find("os/initrd") is None
    assert root.findtext("os/cmdline") == "console=ttyS0 x=</cmdline><evil/> & y"
    assert root.find(".//evil") is None


@pytest.mark.parametrize(
    "kernel, initrd, cmdline",
    [
        ("boot/vmlinuz", "", ""),
        ("", "", ""),
        ("/boot/v\nmlinuz", "", ""),
        ("/k", "rel", ""),
        ("/k", "", "a\nb"),
        ("/k", "", "a\x00b"),
    ],
)
def test_bad_kernel_values_are_refused(kernel, initrd, cmdline):
    with pytest.raises(InvalidValueError):
        set_kernel(Domain.from_xml(KERNEL_XML), kernel, initrd, cmdline)


def test_edit_identity_passwords_and_diff():
    dom = parse_edit(bios_xml())
    assert identity_problems(dom, UUID, "b1") == []
    assert identity_problems(dom, str(uuid.uuid4()), "other") == ["uuid", "name"]
    current = Domain.from_xml(bios_xml())
    edited = Domain.from_xml(
        bios_xml()
        .replace(" passwd='secret12'", "")
        .replace("</devices>", "<graphics type='spice' autoport='yes'/></devices>")
    )
    keep_display_passwords(edited, current)
    graphics = edited.element.findall("devices/graphics")
    assert graphics[0].get("passwd") == "secret12"  # carried over
    assert len(graphics[1].get("passwd")) == 32  # a new display never open
    assert "+<boot dev='cdrom'/>" in unified_diff("<a>\n<boot dev='hd'/>", "<a>\n<boot dev='cdrom'/>")
    assert unified_diff("x\n", "x") == ""
    with pytest.raises(ValueError):
        parse_edit("   ")
