"""parse -> build is lossless, and changing one field changes only that field."""

from __future__ import annotations

from pathlib import Path

import pytest

from vms.domainxml import Domain, set_field

from .helpers import CORPUS, RICH, SEED, canonical, diff

ALL_DOCS = [SEED, RICH, *CORPUS]


def test_corpus_is_there():
    # The parametrised round trip below would silently test nothing without the corpus.
    assert len(CORPUS) >= 50
    assert SEED.exists()


@pytest.mark.parametrize("path", ALL_DOCS, ids=lambda p: p.name)
def test_round_trip_is_canonically_equal(path: Path):
    data = path.read_bytes()
    out = Domain.from_xml(data).to_xml()
    assert canonical(out) == canonical(data)
    # str input (as the web form gives it) behaves the same
    assert canonical(Domain.from_xml(data.decode()).to_xml()) == canonical(data)


def test_round_trip_keeps_comments_namespaces_and_foreign_metadata():
    out = Domain.from_xml(RICH.read_text()).to_xml()
    assert "<!-- trailing comment -->" in out
    assert 'xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"' in out
    assert "<app1:owner>alice</app1:owner>" in out
    assert '<qemu:arg value="-no-reboot"/>' in out


def test_round_trip_keeps_unknown_elements_in_place():
    xml = (
        "<domain type='kvm'><name>a</name><futureThing x='1'><deep/></futureThing>"
        "<memory>1024</memory><devices><newdevice kind='z'/><disk type='file' device='disk'>"
        "<target dev='vda'/><mystery/></disk></devices></domain>"
    )
    dom = Domain.from_xml(xml)
    dom.memory = "2MiB"
    dom.devices.disks[0].target_bus = "virtio"
    removed, added = diff(xml, dom.to_xml())
    assert removed == ["<memory>1024</memory>", '<target dev="vda"/>']
    assert added == ['<memory unit="KiB">2048</memory>', '<target bus="virtio" dev="vda"/>']
    out = dom.to_xml()
    assert out.index("<futureThing") < out.index("<memory") and "<mystery/>" in out


# field, value, lines removed, lines added (canonical form, son.xml)
ONE_FIELD_CHANGES = [
    ("name", "daughter", ["<name>son</name>"], ["<name>daughter</name>"]),
    ("memory", "2GiB", ['<memory unit="KiB">4194304</memory>'], ['<memory unit="KiB">2097152</memory>']),
    (
        "current_memory",
        "1024MiB",
        ['<currentMemory unit="KiB">2097152</currentMemory>'],
        ['<currentMemory unit="KiB">1048576</currentMemory>'],
    ),
    ("vcpu", "4", ['<vcpu placement="static">5</vcpu>'], ['<vcpu placement="static">4</vcpu>']),
    ("on_crash", "coredump-restart", ["<on_crash>destroy</on_crash>"], ["<on_crash>coredump-restart</on_crash>"]),
    ("on_reboot", "destroy", ["<on_reboot>restart</on_reboot>"], ["<on_reboot>destroy</on_reboot>"]),
    (
        "machine",
        "pc",
        ['<type arch="x86_64" machine="pc-i440fx-rhel7.0.0">hvm</type>'],
        ['<type arch="x86_64" machine="pc">hvm</type>'],
    ),
    (
        "cpu_model",
        "Westmere",
        ['<model fallback="allow">SandyBridge</model>'],
        ['<model fallback="allow">Westmere</model>'],
    ),
    ("clock_offset", "localtime", ['<clock offset="utc">'], ['<clock offset="localtime">']),
    (
        "emulator",
        "/usr/bin/qemu-system-x86_64",
        ["<emulator>/usr/libexec/qemu-kvm</emulator>"],
        ["<emulator>/usr/bin/qemu-system-x86_64</emulator>"],
    ),
    ("apic", "no", ["<apic/>"], []),
    ("pae", "yes", [], ["<pae/>"]),
    ("title", "Hello", [], ["<title>Hello</title>"]),
    (
        "uuid",
        "00000000-0000-4000-8000-000000000001",
        ["<uuid>35ab6158-e578-11ec-a3eb-246e96be3120</uuid>"],
        ["<uuid>00000000-0000-4000-8000-000000000001</uuid>"],
    ),
]


@pytest.mark.parametrize("field,value,removed,added", ONE_FIELD_CHANGES, ids=[c[0] for c in ONE_FIELD_CHANGES])
def test_changing_one_field_changes_only_that_field(field, value, removed, added):
    before = SEED.read_text()
    dom = Domain.from_xml(before)
    set_field(dom, field, value)
    assert diff(before, dom.to_xml()) == (removed, added)


def test_new_elements_go_to_their_schema_place():
    dom = Domain.from_xml(SEED.read_text())
    dom.title = "T"
    dom.description = "D"
    dom.max_memory = "8GiB"
    dom.os.kernel = "/boot/vmlinuz"
    dom.os.bootmenu_enabled = True
    root = dom.element
    order = [c.tag for c in root if isinstance(c.tag, str)]
    assert order[:6] == ["name", "uuid", "title", "description", "maxMemory", "memory"]
    os_order = [c.tag for c in root.find("os")]
    assert os_order == ["type", "kernel", "boot", "bootmenu"]


def test_new_devices_are_grouped_with_their_kind():
    dom = Domain.from_xml(SEED.read_text())
    dom.devices.add_disk("/var/lib/libvirt/images/extra.qcow2", target_dev="vdb", driver_type="qcow2")
    dom.devices.add_interface("network", network="default", mac="52:54:00:00:00:01")
    dom.devices.add_graphics("vnc")
    tags = [c.tag for c in dom.element.find("devices") if isinstance(c.tag, str)]
    assert tags[:4] == ["emulator", "disk", "disk", "disk"]
    assert dom.devices.disks[2].source == "/var/lib/libvirt/images/extra.qcow2"
    first_iface = tags.index("interface")
    assert tags[first_iface : first_iface + 2] == ["interface", "interface"]
    assert dom.devices.interfaces[1].source_network == "default"
    first_gfx = tags.index("graphics")
    assert tags[first_gfx : first_gfx + 2] == ["graphics", "graphics"]
    # nothing that existed before moved: removing the new devices gives back the original
    for dev in (dom.devices.disks[2], dom.devices.interfaces[1], dom.devices.graphics[1]):
        dom.devices.remove(dev)
    assert canonical(dom.to_xml()) == canonical(SEED.read_text())


def test_output_stays_indented_after_edits():
    dom = Domain.from_xml(SEED.read_text())
    dom.devices.add_disk("/x.img", target_dev="vdc")
    out = dom.to_xml()
    assert (
        '    <disk type="file" device="disk">\n      <driver name="qemu" type="raw"/>\n'
        '      <source file="/x.img"/>\n      <target dev="vdc" bus="virtio"/>\n    </disk>\n' in out
    )
