"""A VM's domain XML, made from its template through the domain XML engine, never by formatting."""

from __future__ import annotations

from dataclasses import dataclass

from vms.domainxml import Domain, set_field

# Our mark inside <metadata>: the reaper finds what we made by it, and leaves everything else alone.
METADATA_NS = "https://kvm-fleet-dashboard.invalid/ns/vm/1"
METADATA_PREFIX = "kvmdash"


@dataclass(frozen=True)
class VMSpec:
    uuid: str
    name: str
    vcpus: int
    memory_mib: int
    disk_path: str | None
    disk_format: str
    owner: str
    seed_iso_path: str | None = None


def build_vm_domain(template_xml: str, spec: VMSpec) -> Domain:
    dom = Domain.from_xml(template_xml)
    dom.name = spec.name
    dom.uuid = spec.uuid
    set_field(dom, "memory", f"{spec.memory_mib}MiB")
    set_field(dom, "current_memory", f"{spec.memory_mib}MiB")
    dom.vcpu = spec.vcpus
    if dom.vcpu_current is not None and dom.vcpu_current > spec.vcpus:
        dom.vcpu_current = spec.vcpus
    mark = dom.metadata.set(METADATA_NS, METADATA_PREFIX, "vm")
    mark.set("owner", spec.owner)
    if spec.disk_path:
        disks = [d for d in dom.devices.disks if d.device == "disk"]
        if disks:
            disk = disks[0]
            disk.type = "file"
            disk.source_file = spec.disk_path
            disk.driver_type = spec.disk_format
        else:
            dom.devices.add_disk(spec.disk_path, target_dev="vda", bus="virtio", driver_type=spec.disk_format)
    if spec.seed_iso_path:
        dom.devices.add_disk(
            spec.seed_iso_path,
            target_dev=_free_ide_target(dom),
            bus="ide",
            device="cdrom",
            driver_type="raw",
            readonly=True,
        )
    return dom


def _free_ide_target(dom: Domain) -> str:
    used = {d.target_dev for d in dom.devices.disks}
    for dev in ("hdd", "hdc", "hdb", "hda"):  # from the end: templates put their own CD-ROM first
        if dev not in used:
            return dev
    raise ValueError("No free IDE slot for the cloud-init seed CD-ROM; remove an IDE disk from the template.")


def is_ours(domain_xml: str) -> bool:
    dom = Domain.from_xml(domain_xml)
    return dom.metadata.get(METADATA_NS) is not None
