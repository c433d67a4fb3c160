"""adapt() against real capability fixtures captured on the build machine."""

from __future__ import annotations

import pytest
from lxml import etree

from vms.domainxml import AdaptError, Domain, adapt, machine_family, validate
from vms.domainxml.adapt import cpu_model_runs_arch

from .helpers import RICH, SEED, diff, fixture

TCG = fixture("host-caps-x86_64-tcg.xml")
WITH_KVM = fixture("host-caps-x86_64.xml")
DC_PC_QEMU = fixture("domcaps-x86_64-pc-qemu.xml")
DC_Q35_QEMU = fixture("domcaps-x86_64-q35-qemu.xml")
DC_PC_KVM = fixture("domcaps-x86_64-pc-kvm.xml")
DC_NOSPICE = fixture("domcaps-x86_64-pc-qemu-nospice.xml")
ISO = "/var/lib/libvirt/images/CentOS-7-x86_64-Minimal-2009.iso"
SON_IMG = "/var/lib/libvirt/images/son.img"
# The x86 models without long mode that QEMU 7.2 lists (libvirt also knows 'pentiumpro').
X86_32BIT_MODELS = ("486", "pentium", "pentium2", "pentium3", "qemu32", "kvm32", "coreduo", "athlon", "n270")


def adapt_son(**kw):
    args = dict(
        domain_caps={("x86_64", "pc", "qemu"): DC_NOSPICE}, bridges=[], networks=[], path_exists=lambda p: False
    )
    args.update(kw)
    return adapt(SEED.read_text(), TCG, **args)


def test_son_on_a_tcg_host_without_spice():
    result = adapt_son()
    assert result.adjustments == [
        "KVM is not available on this host; using software emulation (domain type 'qemu').",
        "Emulator '/usr/libexec/qemu-kvm' does not exist on this host; using '/usr/bin/qemu-system-x86_64'.",
        "Machine type 'pc-i440fx-rhel7.0.0' is not offered by this host; using 'pc' (i440fx).",
        "CPU model 'SandyBridge' cannot run on this host (domain type 'qemu'); using model 'qemu64' instead.",
        "SPICE graphics are not supported on this host; using VNC instead.",
        "Removed the SPICE channel 'com.redhat.spice.0' (it needs SPICE graphics).",
        "Removed 2 USB redirection devices (USB redirection needs SPICE graphics).",
        f"Disk image '{SON_IMG}' (vda) does not exist on this host yet; it must be created before the domain "
        "can start.",
        f"The CD-ROM image '{ISO}' does not exist on this host; the CD-ROM drive hda is left empty.",
        "Bridge 'br0' does not exist on this host; interface 52:54:00:28:5f:94 now uses user-mode networking "
        "(outgoing connections only).",
    ]
    validate(result.xml)
    dom = Domain.from_xml(result.xml)
    assert (dom.type, dom.os.machine, dom.devices.emulator) == ("qemu", "pc", "/usr/bin/qemu-system-x86_64")
    assert (dom.cpu.mode, dom.cpu.model) == ("custom", "qemu64")
    assert [g.type for g in dom.devices.graphics] == ["vnc"]
    assert dom.devices.graphics[0].element.find("image") is None  # SPICE-only child dropped
    assert [c.target_name for c in dom.devices.channels] == ["org.qemu.guest_agent.0"]
    assert dom.devices.redirdevs == []
    disk, cdrom = dom.devices.disks
    assert disk.source == SON_IMG and cdrom.source is None and cdrom.target_dev == "hda"
    assert dom.devices.interfaces[0].type == "user"
    assert dom.devices.interfaces[0].mac == "52:54:00:28:5f:94"


def test_son_keeps_spice_where_the_host_has_it():
    result = adapt_son(domain_caps={("x86_64", "pc", "qemu"): DC_PC_QEMU})
    dom = Domain.from_xml(result.xml)
    assert [g.type for g in dom.devices.graphics] == ["spice"]
    assert len(dom.devices.redirdevs) == 2 and len(dom.devices.channels) == 2
    assert not any("SPICE" in a for a in result.adjustments)
    validate(result.xml)


def test_untouched_parts_stay_identical():
    result = adapt_son(domain_caps={("x86_64", "pc", "qemu"): DC_PC_QEMU}, path_exists=lambda p: True, bridges=["br0"])
    removed, added = diff(SEED.read_text(), result.xml)
    assert removed == [
        '<domain type="kvm">',
        '<type arch="x86_64" machine="pc-i440fx-rhel7.0.0">hvm</type>',
        '<model fallback="allow">SandyBridge</model>',
        "<emulator>/usr/libexec/qemu-kvm</emulator>",
    ]
    assert added == [
        '<domain type="qemu">',
        '<type arch="x86_64" machine="pc">hvm</type>',
        '<model fallback="allow">qemu64</model>',
        "<emulator>/usr/bin/qemu-system-x86_64</emulator>",
    ]


def test_missing_bridge_goes_to_a_network_when_there_is_one():
    result = adapt_son(networks=["default"])
    iface = Domain.from_xml(result.xml).devices.interfaces[0]
    assert (iface.type, iface.source_network) == ("network", "default")
    assert (
        "Bridge 'br0' does not exist on this host; interface 52:54:00:28:5f:94 now uses network 'default'."
        in result.adjustments
    )
    chosen = adapt_son(networks=["default", "lab"], fallback_network="lab")
    assert Domain.from_xml(chosen.xml).devices.interfaces[0].source_network == "lab"


def test_missing_network_is_remapped_and_unknown_facts_leave_nics_alone():
    rich = RICH.read_text()
    result = adapt(rich, TCG, networks=["lab"], fallback_network="lab")
    assert Domain.from_xml(result.xml).devices.interfaces[0].source_network == "lab"
    assert (
        "Network 'default' does not exist on this host; interface 52:54:00:aa:bb:cc now uses network 'lab'."
        in result.adjustments
    )
    untouched = adapt_son(bridges=None, networks=None)
    assert Domain.from_xml(untouched.xml).devices.interfaces[0].source_bridge == "br0"


def test_unknown_paths_are_left_alone():
    result = adapt_son(path_exists=lambda p: None)
    assert Domain.from_xml(result.xml).devices.disks[1].source == ISO
    assert not any("does not exist on this host yet" in a for a in result.adjustments)


def test_kvm_kept_where_usable():
    result = adapt(SEED.read_text(), WITH_KVM, {("x86_64", "pc", "kvm"): DC_PC_KVM})
    dom = Domain.from_xml(result.xml)
    assert dom.type == "kvm"
    assert not any("KVM" in a for a in result.adjustments)
    forced = adapt(SEED.read_text(), WITH_KVM, {("x86_64", "pc", "qemu"): DC_PC_QEMU}, virt_types=("qemu",))
    assert Domain.from_xml(forced.xml).type == "qemu"
    assert forced.adjustments[0] == "KVM is disabled for this host; using software emulation (domain type 'qemu')."


def test_host_passthrough_needs_kvm():
    result = adapt(RICH.read_text(), TCG, {("x86_64", "q35", "qemu"): DC_Q35_QEMU})
    dom = Domain.from_xml(result.xml)
    assert dom.os.machine == "pc-q35-7.2"  # offered as is: unchanged
    assert dom.cpu.mode == "maximum"
    assert "CPU mode 'host-passthrough' needs KVM; using 'maximum' instead." in result.adjustments
    # the same rule without domain capabilities
    bare = adapt(RICH.read_text(), TCG)
    assert Domain.from_xml(bare.xml).cpu.mode == "maximum"
    validate(result.xml)


def test_domain_caps_lookup_by_canonical_machine_and_callable():
    calls = []

    def fetch(arch, machine, virt_type):
        calls.append((arch, machine, virt_type))
        return DC_PC_QEMU

    adapt(SEED.read_text(), TCG, fetch)
    assert calls == [("x86_64", "pc", "qemu")]
    by_canonical = adapt(SEED.read_text(), TCG, {("x86_64", "pc-i440fx-7.2", "qemu"): DC_NOSPICE})
    assert "SPICE graphics are not supported on this host; using VNC instead." in by_canonical.adjustments


def test_q35_family_and_unknown_machine():
    q35 = SEED.read_text().replace("pc-i440fx-rhel7.0.0", "pc-q35-rhel8.6.0")
    result = adapt(q35, TCG)
    assert Domain.from_xml(result.xml).os.machine == "q35"
    assert "Machine type 'pc-q35-rhel8.6.0' is not offered by this host; using 'q35' (q35)." in result.adjustments
    with pytest.raises(AdaptError, match="'mystery-9' is not offered by this host and it has no equivalent"):
        adapt(SEED.read_text().replace("pc-i440fx-rhel7.0.0", "mystery-9"), TCG)


def test_architecture_the_host_cannot_run():
    with pytest.raises(AdaptError, match="cannot run 'hvm' guests for architecture 'aarch64'"):
        adapt(SEED.read_text().replace("arch='x86_64'", "arch='aarch64'"), TCG)


def test_vcpus_clamped_and_video_replaced():
    xml = SEED.read_text().replace(">5</vcpu>", ">300</vcpu>")
    no_qxl = DC_PC_QEMU.replace("<value>qxl</value>", "")
    result = adapt(xml, TCG, {("x86_64", "pc", "qemu"): no_qxl})
    dom = Domain.from_xml(result.xml)
    assert dom.vcpu == 255
    assert "This host allows at most 255 vCPUs for this machine; reduced from 300." in result.adjustments
    assert dom.devices.videos[0].model_type == "virtio" and dom.devices.videos[0].ram is None
    assert "Video model 'qxl' is not supported on this host; using 'virtio'." in result.adjustments
    validate(result.xml)


def test_adapt_is_idempotent_and_does_not_touch_its_input():
    dom = Domain.from_xml(SEED.read_text())
    before = dom.to_xml()
    first = adapt(dom, TCG, {("x86_64", "pc", "qemu"): DC_PC_QEMU})
    assert dom.to_xml() == before
    second = adapt(first.xml, TCG, {("x86_64", "pc", "qemu"): DC_PC_QEMU})
    assert second.adjustments == [] and second.xml == first.xml


@pytest.mark.parametrize(
    "name,family",
    [
        ("pc-i440fx-rhel7.0.0", "pc"),
        ("pc-i440fx-7.2", "pc"),
        ("pc", "pc"),
        ("pc-1.0", "pc"),
        ("pc-q35-rhel8.6.0", "q35"),
        ("q35", "q35"),
        ("virt-6.2", "virt"),
        ("pseries-rhel8.2.0", "pseries"),
    ],
)
def test_machine_family(name, family):
    assert machine_family(name) == family


def domcaps_with_usable(models, base=DC_PC_QEMU, modes=None):
    """The pc/qemu capture with only `models` usable (and, if given, only `modes` supported)."""
    root = etree.fromstring(base.encode())
    for model in root.findall("cpu/mode[@name='custom']/model"):
        model.set("usable", "yes" if model.text.strip() in models else "no")
    if modes is not None:
        for mode in root.findall("cpu/mode"):
            if mode.get("name") != "custom":
                mode.set("supported", "yes" if mode.get("name") in modes else "no")
    return etree.tostring(root, encoding="unicode")


DC_32BIT_ONLY = domcaps_with_usable(X86_32BIT_MODELS)


def test_fixture_marks_only_32bit_models_usable():
    root = etree.fromstring(DC_32BIT_ONLY.encode())
    models = {m.text.strip() for m in root.findall("cpu/mode[@name='custom']/model[@usable='yes']")}
    assert models == set(X86_32BIT_MODELS)
    assert "qemu64" not in models and "kvm64" not in models


@pytest.mark.parametrize(
    "cpu,reason",
    [
        (None, "CPU model 'SandyBridge' cannot run on this host (domain type 'qemu')"),
        ("<cpu mode='host-model'/>", "CPU mode 'host-model' is not supported on this host"),
    ],
)
def test_x86_64_guest_never_gets_a_32bit_cpu_model(cpu, reason):
    xml = SEED.read_text()
    if cpu is not None:
        start, end = xml.index("<cpu"), xml.index("</cpu>") + len("</cpu>")
        xml = xml[:start] + cpu + xml[end:]
    dc = domcaps_with_usable(X86_32BIT_MODELS, modes=() if cpu else None)
    result = adapt(xml, TCG, {("x86_64", "pc", "qemu"): dc}, virt_types=("qemu",))
    dom = Domain.from_xml(result.xml)
    # No model this host can run has long mode: no <cpu> at all, so QEMU's default for x86_64 is used.
    assert not dom.cpu.present and dom.element.find("cpu") is None
    assert (
        f"{reason}; removed the CPU definition so the hypervisor default is used (none of the CPU models "
        "usable here can run x86_64 guests)." in result.adjustments
    )
    assert not any(f"'{m}'" in a for a in result.adjustments for m in X86_32BIT_MODELS)
    validate(result.xml)


def test_x86_64_guest_gets_a_64bit_named_model_before_any_32bit_one():
    dc = domcaps_with_usable({*X86_32BIT_MODELS, "Penryn"})
    result = adapt(SEED.read_text(), TCG, {("x86_64", "pc", "qemu"): dc})
    dom = Domain.from_xml(result.xml)
    assert (dom.cpu.mode, dom.cpu.model) == ("custom", "Penryn")
    assert (
        "CPU model 'SandyBridge' cannot run on this host (domain type 'qemu'); using model 'Penryn' instead."
        in result.adjustments
    )
    # Where qemu64 or kvm64 is usable it still comes first.
    kvm64 = adapt(SEED.read_text(), TCG, {("x86_64", "pc", "qemu"): domcaps_with_usable({"qemu32", "kvm64", "Penryn"})})
    assert Domain.from_xml(kvm64.xml).cpu.model == "kvm64"


def test_i686_guest_may_get_a_32bit_cpu_model():
    xml = SEED.read_text().replace("arch='x86_64'", "arch='i686'")
    result = adapt(xml, TCG, {("i686", "pc", "qemu"): DC_32BIT_ONLY})
    dom = Domain.from_xml(result.xml)
    assert (dom.os.arch, dom.devices.emulator) == ("i686", "/usr/bin/qemu-system-i386")
    assert (dom.cpu.mode, dom.cpu.model) == ("custom", "qemu32")
    assert "CPU model 'SandyBridge' cannot run on this host (domain type 'qemu'); using model 'qemu32' instead." in (
        result.adjustments
    )
    only_pentium3 = adapt(xml, TCG, {("i686", "pc", "qemu"): domcaps_with_usable({"pentium3"})})
    assert Domain.from_xml(only_pentium3.xml).cpu.model == "pentium3"
    validate(result.xml)


@pytest.mark.parametrize(
    "model,arch,ok",
    [
        ("pentium3", "x86_64", False),
        ("pentium3-v1", "x86_64", False),
        ("qemu32", "x86_64", False),
        ("n270", "x86_64", False),
        ("qemu64", "x86_64", True),
        ("core2duo", "x86_64", True),
        ("EPYC-Rome", "x86_64", True),
        ("pentium3", "i686", True),
        ("cortex-a57", "aarch64", True),
    ],
)
def test_cpu_model_runs_arch(model, arch, ok):
    assert cpu_model_runs_arch(model, arch) is ok
