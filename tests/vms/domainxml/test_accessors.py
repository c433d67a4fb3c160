"""Typed read/write access to every section, on son.xml, the corpus and rich.xml."""

from __future__ import annotations

import uuid

import pytest

from vms.domainxml import Domain, InvalidValueError
from vms.domainxml.devices import Channel, Console, Controller, Disk, Graphics, Interface, Serial

from .helpers import RICH, SEED, canonical, diff


@pytest.fixture
def son() -> Domain:
    return Domain.from_xml(SEED.read_text())


@pytest.fixture
def rich() -> Domain:
    return Domain.from_xml(RICH.read_text())


def corpus(name: str) -> Domain:
    return Domain.from_xml(open(f"/work/shared/corpus/domains/{name}", "rb").read())


# --- metadata ---------------------------------------------------------------------------------
def test_metadata_fields(son, rich):
    assert son.type == "kvm"
    assert son.name == "son"
    assert son.uuid == "35ab6158-e578-11ec-a3eb-246e96be3120"
    assert son.title is None and son.description is None
    assert rich.title == "Rich test domain"
    assert rich.description == "Line one\nline two & more"
    app1 = rich.metadata.get("http://example.org/app1")
    assert app1 is not None and app1.get("level") == "3"
    assert corpus("bootorder-in-0.xml").description == "f30 for f30 testing"


def test_metadata_set_replaces_only_that_application(rich):
    before = rich.to_xml()
    el = rich.metadata.set("http://example.org/app1", "app1", "data")
    el.set("level", "4")
    removed, added = diff(before, rich.to_xml())
    assert "<app1:owner>alice</app1:owner>" in removed
    assert any('level="4"' in line for line in added)
    assert rich.metadata.get("http://example.org/other") is not None


def test_uuid_is_checked_and_generated(son):
    with pytest.raises(InvalidValueError, match="not a UUID"):
        son.uuid = "not-a-uuid"
    son.uuid = "35AB6158E57811ECA3EB246E96BE3120"  # libvirt accepts the dash-less form too
    assert son.uuid == "35ab6158-e578-11ec-a3eb-246e96be3120"
    assert son.ensure_uuid() == son.uuid  # already there: unchanged
    son.uuid = None
    assert son.uuid is None
    new = son.ensure_uuid()
    assert uuid.UUID(new).version == 4 and son.uuid == new
    assert son.element.index(son.element.find("uuid")) == 1  # right after <name>


# --- OS -----------------------------------------------------------------------------------------
def test_os_boot_fields(son, rich):
    assert (son.os.type, son.os.arch, son.os.machine, son.os.hvm) == ("hvm", "x86_64", "pc-i440fx-rhel7.0.0", True)
    assert son.os.boot_devices == ["cdrom"]
    assert rich.os.boot_devices == ["network", "hd"]
    assert rich.os.bootmenu_enabled is True and rich.os.bootmenu_timeout == 3000
    assert rich.os.loader == "/usr/share/OVMF/OVMF_CODE_4M.fd"
    assert rich.os.loader_readonly is True and rich.os.loader_type == "pflash"
    assert (rich.os.kernel, rich.os.initrd) == ("/boot/vmlinuz", "/boot/initrd.img")
    assert rich.os.cmdline == "console=ttyS0 root=/dev/vda1"
    ftp = corpus("virt-install-fake-ftp-0.xml")
    assert ftp.os.cmdline == "method=ftp://example.com"
    assert corpus("virt-clone-replace-0.xml").os.loader_type == "rom"


def test_os_writes(son):
    son.os.boot_devices = ["hd", "network"]
    assert son.os.boot_devices == ["hd", "network"]
    with pytest.raises(InvalidValueError, match="boot device cannot be 'usb'; allowed: fd, hd, cdrom, network"):
        son.os.boot_devices = ["usb"]
    son.os.loader = "/usr/share/OVMF/OVMF_CODE_4M.fd"
    son.os.loader_type = "pflash"
    son.os.loader_readonly = True
    with pytest.raises(InvalidValueError, match="loader type cannot be 'flash'"):
        son.os.loader_type = "flash"
    son.os.bootmenu_enabled = True
    son.os.bootmenu_timeout = 500
    assert '<loader type="pflash" readonly="yes">' in son.to_xml()
    assert '<bootmenu enable="yes" timeout="500"/>' in son.to_xml()
    son.os.kernel = None  # removing what is not there is fine
    assert son.os.kernel is None


# --- CPU ----------------------------------------------------------------------------------------
def test_vcpu_fields(son, rich):
    assert (son.vcpu, son.vcpu_placement, son.vcpu_current, son.vcpu_cpuset) == (5, "static", None, None)
    assert (rich.vcpu, rich.vcpu_current, rich.vcpu_cpuset) == (4, 2, "0-3")
    states = [(v.id, v.enabled, v.hotpluggable, v.order) for v in rich.vcpus]
    assert states == [(0, True, False, 1), (1, True, True, 2), (2, False, True, None), (3, False, True, None)]
    rich.set_vcpu_state(2, True)
    assert rich.vcpus[2].enabled is True
    with pytest.raises(InvalidValueError, match="at least 1"):
        son.vcpu = 0
    with pytest.raises(InvalidValueError, match="vcpu_placement cannot be 'dynamic'"):
        son.vcpu_placement = "dynamic"


def test_cpu_mode_and_model(son, rich):
    assert (son.cpu.mode, son.cpu.match, son.cpu.check) == ("custom", "exact", "partial")
    assert (son.cpu.model, son.cpu.model_fallback) == ("SandyBridge", "allow")
    assert rich.cpu.mode == "host-passthrough" and rich.cpu.model is None
    assert (rich.cpu.sockets, rich.cpu.cores, rich.cpu.threads) == (1, 2, 2)
    feats = corpus("bootorder-in-0.xml").cpu.features
    assert feats["vmx"] == "require" and len(feats) == 13
    with pytest.raises(InvalidValueError, match="cpu mode cannot be 'passthrough'"):
        son.cpu.mode = "passthrough"


# --- memory -----------------------------------------------------------------------------------
def test_memory_units(son, rich):
    assert son.memory == 4194304 and son.memory_bytes == 4 * 1024**3
    assert son.current_memory == 2097152
    assert rich.memory == 2048 * 1024  # MiB
    assert rich.current_memory_bytes == 976563 * 1024  # 1 GB (decimal), rounded up to KiB
    assert rich.max_memory == 16 * 1024**2 and rich.max_memory_slots == 16
    son.memory = "3GiB"
    assert son.memory == 3 * 1024**2
    son.memory_bytes = 1024**3
    assert son.memory == 1024**2
    son.memory = 524288
    assert son.memory_bytes == 512 * 1024**2
    with pytest.raises(InvalidValueError, match="unknown memory unit"):
        son.memory = "2 parsecs"
    with pytest.raises(InvalidValueError, match="more than 0"):
        son.memory = 0


def test_max_memory_keeps_slots(rich):
    rich.max_memory = "32GiB"
    assert rich.max_memory_slots == 16
    assert '<maxMemory slots="16" unit="KiB">33554432</maxMemory>' in rich.to_xml()


# --- events -----------------------------------------------------------------------------------
def test_lifecycle_actions(son, rich):
    assert (son.on_poweroff, son.on_reboot, son.on_crash) == ("destroy", "restart", "destroy")
    assert (rich.on_poweroff, rich.on_reboot, rich.on_crash) == ("preserve", "rename-restart", "coredump-restart")
    son.on_crash = "coredump-destroy"
    assert son.on_crash == "coredump-destroy"


@pytest.mark.parametrize("event", ["on_poweroff", "on_reboot"])
@pytest.mark.parametrize("action", ["coredump-destroy", "coredump-restart", "reboot", ""])
def test_lifecycle_refuses_actions_not_allowed_for_the_event(son, event, action):
    before = son.to_xml()
    with pytest.raises(InvalidValueError) as err:
        setattr(son, event, action)
    assert str(err.value) == (f"{event} cannot be '{action}'; allowed: destroy, restart, preserve, rename-restart")
    assert son.to_xml() == before


def test_on_crash_refuses_unknown_action(son):
    with pytest.raises(InvalidValueError, match="on_crash cannot be 'explode'; allowed: .*coredump-restart"):
        son.on_crash = "explode"


# --- features ---------------------------------------------------------------------------------
def test_features_booleans_and_generic_api(son, rich):
    assert (son.features.acpi, son.features.apic, son.features.pae, son.features.hap) == (True, True, False, False)
    assert (rich.features.pae, rich.features.hap) == (True, True)
    assert rich.features.names() == ["acpi", "apic", "pae", "hap", "vmport"]
    assert rich.features.has("vmport") and not rich.features.enabled("vmport")  # state='off'
    rich.features.hap = False
    assert not rich.features.has("hap")
    rich.features.apic = True  # already on: its eoi attribute must survive
    assert rich.features.get("apic").get("eoi") == "on"
    rich.features.set("vmport")
    assert rich.features.enabled("vmport")
    son.features.set("smm", state="on")
    son.features.remove("acpi")
    assert son.features.names() == ["apic", "smm"]


def test_unknown_features_are_untouched(son):
    dom = corpus("bootorder-in-0.xml")
    before = dom.to_xml()
    dom.features.pae = True
    removed, added = diff(before, dom.to_xml())
    assert removed == [] and added == ["<pae/>"]
    assert '<vmport state="off"/>' in dom.to_xml()


# --- clock ------------------------------------------------------------------------------------
def test_clock(son, rich):
    assert son.clock.offset == "utc"
    assert [(t.name, t.tickpolicy, t.present) for t in son.clock.timers] == [
        ("rtc", "catchup", None),
        ("pit", "delay", None),
        ("hpet", None, False),
    ]
    assert (rich.clock.offset, rich.clock.timezone) == ("timezone", "Europe/Paris")
    assert rich.clock.timer("rtc").track == "guest"
    assert rich.clock.timer("kvmclock").present is True
    son.clock.offset = "variable"
    son.clock.adjustment = "3600"
    son.clock.timer("hpet").present = True
    son.clock.add_timer("tsc", present=True)
    son.clock.remove_timer("pit")
    assert [t.name for t in son.clock.timers] == ["rtc", "hpet", "tsc"]
    with pytest.raises(InvalidValueError, match="clock offset cannot be 'gmt'"):
        son.clock.offset = "gmt"
    assert corpus("virt-install-kvm-win2k3-cdrom-0.xml").clock.offset == "localtime"


# --- devices ----------------------------------------------------------------------------------
def test_disks(son, rich):
    disk, cdrom = son.devices.disks
    assert isinstance(disk, Disk)
    assert (disk.type, disk.device, disk.driver_name, disk.driver_type) == ("file", "disk", "qemu", "raw")
    assert (disk.source, disk.target_dev, disk.target_bus, disk.readonly) == (
        "/var/lib/libvirt/images/son.img",
        "vda",
        "virtio",
        False,
    )
    assert disk.address == {"type": "pci", "domain": "0x0000", "bus": "0x00", "slot": "0x07", "function": "0x0"}
    assert (cdrom.device, cdrom.readonly, cdrom.removable, cdrom.target_bus) == ("cdrom", True, True, "ide")
    vol, block, floppy = rich.devices.disks
    assert (vol.type, vol.source_pool, vol.source_volume, vol.source, vol.boot_order) == (
        "volume",
        "default",
        "rich.qcow2",
        "default/rich.qcow2",
        2,
    )
    assert vol.local_path is None and vol.driver_cache == "none"
    assert (block.source_dev, block.local_path, block.serial) == ("/dev/vg0/rich-data", "/dev/vg0/rich-data", "DATA01")
    assert floppy.device == "floppy" and floppy.source is None
    cdrom.eject()
    assert cdrom.source is None and cdrom.target_dev == "hda"
    disk.set_address("pci", domain="0x0000", bus="0x00", slot="0x09", function="0x0")
    assert disk.address["slot"] == "0x09"
    with pytest.raises(InvalidValueError, match="cannot be 'tape'"):
        disk.device = "tape"


def test_add_disk_variants(son):
    cd = son.devices.add_disk("/isos/x.iso", target_dev="sda", bus="sata", device="cdrom", boot_order=1)
    assert cd.readonly and cd.boot_order == 1 and cd.source_file == "/isos/x.iso"
    vol = son.devices.add_disk("data.qcow2", pool="default", target_dev="vdc", driver_type="qcow2")
    assert vol.type == "volume" and vol.source == "default/data.qcow2"
    blk = son.devices.add_disk("/dev/sdb", type="block", target_dev="vdd")
    assert blk.source_dev == "/dev/sdb"


def test_interfaces(son, rich):
    (iface,) = son.devices.interfaces
    assert isinstance(iface, Interface)
    assert (iface.type, iface.mac, iface.source_bridge, iface.model) == ("bridge", "52:54:00:28:5f:94", "br0", "virtio")
    net, user = rich.devices.interfaces
    assert (net.type, net.source_network, net.boot_order) == ("network", "default", 1)
    assert (user.type, user.model) == ("user", "e1000e")
    iface.connect_to_network("default")
    assert (iface.type, iface.source_network, iface.source_bridge) == ("network", "default", None)
    iface.use_user_networking()
    assert iface.type == "user" and iface.element.find("source") is None
    assert iface.address["slot"] == "0x03"  # the PCI slot survives the rewiring
    with pytest.raises(InvalidValueError, match="not a MAC address"):
        iface.mac = "52:54:00:28:5f"
    with pytest.raises(InvalidValueError, match="multicast"):
        iface.mac = "01:00:5e:00:00:01"
    new = son.devices.add_interface("bridge", bridge="br1", model="e1000")
    assert (new.source_bridge, new.model, new.mac) == ("br1", "e1000", None)


def test_controllers_chars_inputs(son, rich):
    ctls = son.devices.controllers
    assert all(isinstance(c, Controller) for c in ctls)
    assert [(c.type, c.index, c.model) for c in ctls][:2] == [("usb", 0, "ich9-ehci1"), ("usb", 0, "ich9-uhci1")]
    assert ctls[-1].type == "virtio-serial"
    (serial,) = son.devices.serials
    assert isinstance(serial, Serial)
    assert (serial.type, serial.target_type, serial.target_port) == ("pty", "isa-serial", 0)
    (console,) = son.devices.consoles
    assert isinstance(console, Console) and console.target_type == "serial"
    agent, spice = son.devices.channels
    assert isinstance(agent, Channel)
    assert (agent.type, agent.target_name) == ("unix", "org.qemu.guest_agent.0")
    assert (spice.type, spice.target_name) == ("spicevmc", "com.redhat.spice.0")
    assert rich.devices.channels[0].source_path == "/run/rich/agent.sock"
    assert [(i.type, i.bus) for i in son.devices.inputs] == [("tablet", "usb"), ("mouse", "ps2"), ("keyboard", "ps2")]
    son.devices.add_controller("scsi", index=0, model="virtio-scsi")
    son.devices.add_channel("unix", target_name="org.example.0")
    assert son.devices.controllers[-1].model == "virtio-scsi"
    assert son.devices.channels[-1].target_name == "org.example.0"


def test_graphics_sound_video_redir_balloon(son, rich):
    (gfx,) = son.devices.graphics
    assert isinstance(gfx, Graphics)
    assert (gfx.type, gfx.autoport, gfx.port, gfx.listen_type) == ("spice", True, None, "address")
    (vnc,) = rich.devices.graphics
    assert (vnc.type, vnc.port, vnc.autoport, vnc.listen, vnc.listen_address) == (
        "vnc",
        5905,
        False,
        "127.0.0.1",
        "127.0.0.1",
    )
    assert corpus("convert-to-vnc-has-vnc-out-0.xml").devices.graphics[0].port == 5907
    assert [s.model for s in son.devices.sounds] == ["ich6"]
    (video,) = son.devices.videos
    assert (video.model_type, video.ram, video.vram, video.vgamem, video.heads, video.primary) == (
        "qxl",
        65536,
        65536,
        16384,
        1,
        True,
    )
    assert [(r.bus, r.type) for r in son.devices.redirdevs] == [("usb", "spicevmc")] * 2
    assert son.devices.memballoon.model == "virtio"
    son.devices.set_memballoon("none")
    assert len(son.devices.of_kind("memballoon")) == 1 and son.devices.memballoon.model == "none"
    new = son.devices.add_graphics("vnc", listen="127.0.0.1")
    assert (new.port, new.autoport, new.listen_address) == (-1, True, "127.0.0.1")
    son.devices.add_sound("ich9")
    son.devices.add_video("virtio", heads=1)
    son.devices.add_redirdev()
    son.devices.add_input("keyboard", "usb")
    assert (len(son.devices.sounds), len(son.devices.videos), len(son.devices.redirdevs)) == (2, 2, 3)


def test_unknown_devices_are_listed_and_kept(rich):
    tags = [d.tag for d in rich.devices.all()]
    assert tags[-1] == "rng"
    assert rich.devices.emulator == "/usr/bin/qemu-system-x86_64"


def test_remove_device(son):
    before = son.to_xml()
    son.devices.remove(son.devices.redirdevs[0])
    removed, added = diff(before, son.to_xml())
    assert added == []
    assert sorted(removed) == sorted(
        ['<redirdev bus="usb" type="spicevmc">', '<address bus="0" port="2" type="usb"/>', "</redirdev>"]
    )
    other = Domain.from_xml(SEED.read_text())
    with pytest.raises(InvalidValueError, match="not part of this domain"):
        son.devices.remove(other.devices.disks[0])


def test_building_from_scratch_validates():
    from vms.domainxml import validate

    dom = Domain.new("scratch", "qemu")
    dom.ensure_uuid()
    dom.memory = "512MiB"
    dom.vcpu = 1
    dom.os.type = "hvm"
    dom.os.arch = "x86_64"
    dom.os.machine = "pc"
    dom.os.boot_devices = ["hd"]
    dom.devices.emulator = "/usr/bin/qemu-system-x86_64"
    dom.devices.add_disk("/var/lib/libvirt/images/scratch.qcow2", target_dev="vda", driver_type="qcow2")
    dom.devices.add_interface("user")
    dom.devices.add_console()
    dom.on_crash = "restart"
    validate(dom)
    assert canonical(Domain.from_xml(dom.to_xml()).to_xml()) == canonical(dom.to_xml())
