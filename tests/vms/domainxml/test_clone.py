"""A clone's domain XML (vms/domainxml/clone.py): its own name, UUID, disks and seed; no MAC of its
source's; media kept only where the ISO is; displays with new passwords. Pure XML, no host."""

from __future__ import annotations

import pytest

from vms.domainxml import Domain
from vms.domainxml.clone import CloneSpec, clone_domain, copied_disks, inserted_media, seed_volume_name

SOURCE_UUID = "11111111-2222-3333-4444-555555555555"
CLONE_UUID = "99999999-8888-7777-6666-555555555555"
POOL = "/var/lib/libvirt/images"

SOURCE = f"""<domain type='kvm'>
  <name>web-1</name><uuid>{SOURCE_UUID}</uuid>
  <metadata><kvmdash:vm xmlns:kvmdash="https://kvm-fleet-dashboard.invalid/ns/vm/1" owner="lan"/></metadata>
  <memory unit='MiB'>512</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='{POOL}/{SOURCE_UUID}-disk0.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='{POOL}/{SOURCE_UUID}-disk1.raw'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
      <source file='{POOL}/{seed_volume_name(SOURCE_UUID)}'/><target dev='hdd' bus='ide'/><readonly/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
      <source file='{POOL}/debian.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/>
      <target dev='vnet3'/><model type='virtio'/><alias name='net0'/></interface>
    <graphics type='vnc' port='-1' autoport='yes' passwd='oldpass1'/>
  </devices>
</domain>"""

COPIES = {"vda": f"{POOL}/{CLONE_UUID}-disk0.qcow2", "vdb": f"{POOL}/{CLONE_UUID}-disk1.raw"}


def _spec(**kwargs) -> CloneSpec:
    return CloneSpec(uuid=CLONE_UUID, name="web-1-copy", owner="minh", disk_paths=COPIES, **kwargs)


def test_the_clone_has_its_own_identity_disks_and_seed():
    seed = f"{POOL}/{seed_volume_name(CLONE_UUID)}"
    dom = clone_domain(SOURCE, _spec(seed_iso_path=seed))
    xml = dom.to_xml()
    assert (dom.name, dom.uuid) == ("web-1-copy", CLONE_UUID)
    assert SOURCE_UUID not in xml
    sources = {d.target_dev: d.source_file for d in dom.devices.disks}
    assert sources == {**COPIES, "hdd": seed, "sda": f"{POOL}/debian.iso"}
    assert 'owner="minh"' in xml and "lan" not in xml
    nic = dom.devices.interfaces[0]
    assert nic.mac is None and nic.element.find("target") is None and nic.element.find("alias") is None
    assert nic.source_network == "default"
    passwd = dom.devices.graphics[0].element.get("passwd")
    assert passwd and passwd != "oldpass1"


def test_on_another_host_media_are_left_out_and_without_a_seed_the_seed_drive_goes():
    assert inserted_media(SOURCE) == [f"{POOL}/debian.iso"], "the seed is not a medium the user put in"
    dom = clone_domain(SOURCE, _spec(keep_media=False))
    drives = {d.target_dev: d.source_file for d in dom.devices.disks if d.device == "cdrom"}
    assert drives == {"sda": None}, "the ISO is on the source's host only; the seed drive is gone"


def test_a_disk_without_a_copy_is_an_error_not_a_share():
    with pytest.raises(ValueError, match="vdb"):
        clone_domain(SOURCE, CloneSpec(uuid=CLONE_UUID, name="c", owner="", disk_paths={"vda": "/x.qcow2"}))


def test_the_disks_to_copy_are_listed_in_order_and_a_block_device_is_refused():
    assert copied_disks(SOURCE) == [
        {"target": "vda", "path": f"{POOL}/{SOURCE_UUID}-disk0.qcow2", "format": "qcow2"},
        {"target": "vdb", "path": f"{POOL}/{SOURCE_UUID}-disk1.raw", "format": "raw"},
    ]
    block = SOURCE.replace(
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>\n"
        f"      <source file='{POOL}/{SOURCE_UUID}-disk1.raw'/>",
        "<disk type='block' device='disk'><driver name='qemu' type='raw'/>\n      <source dev='/dev/sdb'/>",
    )
    with pytest.raises(ValueError, match="vdb"):
        copied_disks(block)
    assert Domain.from_xml(block)  # still a valid domain: only copying it is refused
