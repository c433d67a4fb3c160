"""A clone's domain XML, made from its source's saved XML: the same machine (devices, boot, sizes,
features) with an identity of its own. See docs/clone.md.

- name and UUID are the clone's; our mark in <metadata> names its owner;
- every disk points at the clone's own copy (`CloneSpec.disk_paths`, by target): a disk without a
  copy would be shared by two VMs, so it is an error here, not a silent share;
- the source's cloud-init seed CD-ROM is replaced by the clone's own seed (a new instance id and
  hostname), or removed when there is none; other CD-ROM media stay only where the ISO is (the same
  host), else the drive is kept empty;
- NICs lose their MAC (the host gives new ones at define, and the fleet's registry checks them), and
  what the host adds to a running domain's interfaces (target device, alias) goes;
- displays get new passwords, as every VM's (vms.domainxml.vm.secure_displays).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vms.domainxml import Domain
from vms.domainxml.tree import remove_element
from vms.domainxml.vm import METADATA_NS, METADATA_PREFIX, secure_displays


@dataclass(frozen=True)
class CloneSpec:
    uuid: str
    name: str
    owner: str
    disk_paths: dict[str, str] = field(default_factory=dict)  # the source disk's target -> the clone's copy
    seed_iso_path: str | None = None
    keep_media: bool = True
    display_listen: str | None = None


def seed_volume_name(vm_uuid: str) -> str:
    """The cloud-init seed ISO of a VM, in its pool (vms/runners/vm.py makes it)."""
    return f"{vm_uuid}-seed.iso"


def copied_disks(source_xml: str) -> list[dict]:
    """The source's disks a clone gets copies of, in order: [{target, path, format}].

    Raises ValueError naming the disk when one is not a file (a block device, a network disk): the
    dashboard copies volumes of its pools only."""
    dom = Domain.from_xml(source_xml)
    found = []
    for disk in dom.devices.disks:
        if disk.device != "disk":
            continue
        if disk.type != "file" or not disk.source_file:
            raise ValueError(
                f"disk {disk.target_dev} is not a file in a storage pool ({disk.type}); it cannot be copied"
            )
        found.append({"target": disk.target_dev, "path": disk.source_file, "format": disk.driver_type or "raw"})
    return found


def inserted_media(source_xml: str) -> list[str]:
    """The ISOs in the source's CD-ROM drives, its cloud-init seed left out."""
    dom = Domain.from_xml(source_xml)
    seed = "/" + seed_volume_name(dom.uuid or "")
    return [
        d.source_file
        for d in dom.devices.disks
        if d.device == "cdrom" and d.source_file and not d.source_file.endswith(seed)
    ]


def clone_domain(source_xml: str, spec: CloneSpec) -> Domain:
    dom = Domain.from_xml(source_xml)
    seed = seed_volume_name(dom.uuid or "")
    dom.name = spec.name
    dom.uuid = spec.uuid
    dom.metadata.set(METADATA_NS, METADATA_PREFIX, "vm").set("owner", spec.owner)
    for disk in list(dom.devices.disks):
        if disk.device == "disk":
            path = spec.disk_paths.get(disk.target_dev or "")
            if path is None:
                raise ValueError(f"disk {disk.target_dev} has no copy for the clone")
            disk.source_file = path
        elif disk.device == "cdrom" and (disk.source_file or "").endswith("/" + seed):
            if spec.seed_iso_path:
                disk.source_file = spec.seed_iso_path
            else:
                dom.devices.remove(disk)
        elif disk.device == "cdrom" and disk.source_file and not spec.keep_media:
            source = disk.element.find("source")
            if source is not None:
                remove_element(source)
    for nic in dom.devices.interfaces:
        for tag in ("mac", "target", "alias"):
            el = nic.element.find(tag)
            if el is not None:
                remove_element(el)
    secure_displays(dom, spec.display_listen)
    return dom
