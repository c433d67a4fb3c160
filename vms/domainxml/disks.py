"""A VM's disks and CD-ROM drives as the pages and the API show them, and the device XML that changes them.

Pure functions over the domain XML (no libvirt, no Django). The domain XML does not say how big a
disk is, so the disk jobs record each disk's size (GiB, as the host reported it) in the domain's own
<metadata> under SIZES_NS; the copy of the XML in the database then carries it to the pages.
"""

from __future__ import annotations

from lxml import etree

from .devices import Disk
from .errors import DomainXMLError
from .model import Domain

# Buses a user may choose for a new data disk, and the target name prefix of each.
DATA_DISK_BUSES = ("virtio", "scsi", "sata")
BUS_PREFIX = {"virtio": "vd", "scsi": "sd", "sata": "sd", "ide": "hd", "usb": "sd"}
SIZES_NS = "https://kvm-fleet-dashboard.invalid/ns/disk-sizes/1"
SIZES_PREFIX = "kvmdisks"
SIZES_TAG = "sizes"


def _domain(xml: str | Domain) -> Domain:
    return xml if isinstance(xml, Domain) else Domain.from_xml(xml)


def recorded_sizes(xml: str | Domain) -> dict[str, int]:
    """{target: GiB} recorded by the disk jobs in the domain's metadata."""
    el = _domain(xml).metadata.get(SIZES_NS)
    sizes: dict[str, int] = {}
    if el is None:
        return sizes
    for disk in el:
        if not isinstance(disk.tag, str):
            continue
        try:
            sizes[disk.get("target", "")] = int(disk.get("gib", ""))
        except ValueError:
            continue
    return sizes


def sizes_metadata_xml(sizes: dict[str, int]) -> str:
    """The <kvmdisks:sizes> element for virDomainSetMetadata (libvirt adds the namespace itself)."""
    root = etree.Element(SIZES_TAG)
    for target, gib in sorted(sizes.items()):
        etree.SubElement(root, "disk", target=target, gib=str(int(gib)))
    return etree.tostring(root, encoding="unicode")


def _row(disk: Disk, sizes: dict[str, int]) -> dict:
    return {
        "target": disk.target_dev or "",
        "bus": disk.target_bus or "",
        "device": disk.device or "disk",
        "size_gib": sizes.get(disk.target_dev or "") if disk.device in (None, "disk") else None,
        "format": disk.driver_type or "",
        "volume": disk.source or "",
    }


def disks_of(xml: str | Domain) -> list[dict]:
    """Every <disk> of the domain: {target, bus, device, size_gib (None: not recorded), format, volume}."""
    dom = _domain(xml)
    sizes = recorded_sizes(dom)
    return [_row(d, sizes) for d in dom.devices.disks]


def cdrom_of(xml: str | Domain) -> dict | None:
    """The first CD-ROM drive: {target, bus, source (a path or 'pool/volume'; None when empty)}, or None."""
    for disk in _domain(xml).devices.disks:
        if disk.device == "cdrom":
            return {"target": disk.target_dev or "", "bus": disk.target_bus or "", "source": disk.source}
    return None


def find_disk(xml: str | Domain, target: str) -> Disk | None:
    return next((d for d in _domain(xml).devices.disks if d.target_dev == target), None)


def free_target(xml: str | Domain, bus: str) -> str:
    """The first unused target name for `bus` (vdb, sdc, ...), counting every disk of the domain."""
    dom = _domain(xml)
    prefix = BUS_PREFIX[bus]
    used = {d.target_dev for d in dom.devices.disks}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        if prefix + letter not in used:
            return prefix + letter
    raise DomainXMLError(f"no free disk target name is left for bus {bus}")


def _device_xml(disk: Disk) -> str:
    return etree.tostring(disk.element, encoding="unicode")


def new_disk_xml(path: str, target: str, bus: str, fmt: str) -> str:
    """<disk> for a new data disk: a file volume at `path`, built with the engine (never by formatting)."""
    scratch = Domain.new("scratch")
    return _device_xml(scratch.devices.add_disk(path, target_dev=target, bus=bus, driver_type=fmt))


def new_cdrom_xml(target: str, bus: str) -> str:
    """An empty CD-ROM drive."""
    scratch = Domain.new("scratch")
    return _device_xml(scratch.devices.add_disk(None, target_dev=target, bus=bus, device="cdrom", driver_type="raw"))


def cdrom_bus_for(xml: str | Domain) -> str:
    """q35 machines have no IDE: their CD-ROM goes on SATA."""
    machine = _domain(xml).os.machine or ""
    return "sata" if "q35" in machine else "ide"


def device_xml_of(xml: str | Domain, target: str) -> str | None:
    """The <disk> element with this target, as XML (what detach and media change hand to libvirt)."""
    disk = find_disk(xml, target)
    return None if disk is None else _device_xml(disk)


def with_media(disk_xml: str, path: str | None) -> str:
    """The same CD-ROM drive with `path` as its medium (a file), or empty when `path` is None."""
    dom = Domain.new("scratch")
    devices = dom.devices._node(create=True)
    el = etree.fromstring(disk_xml.encode())
    devices.append(el)
    disk = dom.devices.disks[0]
    disk.eject()
    disk.type = "file"  # an empty drive too: a 'volume' disk without its <source> is not valid
    if path is not None:
        disk.source_file = path
    return _device_xml(disk)
