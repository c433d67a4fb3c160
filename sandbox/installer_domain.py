"""The domain XML of the "Install from ISO (demo)" template: the seed's section III, the demo way.

A BIOS guest with a blank raw disk (each VM gets its own volume), the demo installer ISO in an IDE
CD-ROM drive (a volume of the host's default pool, where `sandbox up` puts it), boot order disk then
CD-ROM (the blank disk has no boot sector, so the BIOS falls through to the CD; once installed, the
disk boots first), a serial console and a VNC screen.
"""

from __future__ import annotations

from lxml import etree

from sandbox.install import DEMO_INSTALLER_VOLUME

POOL = "default"
CDROM_TARGET = "hdc"


def installer_domain_xml(memory_mib: int = 256, iso_volume: str = DEMO_INSTALLER_VOLUME) -> str:
    domain = etree.Element("domain", type="qemu")
    etree.SubElement(domain, "name").text = "install-from-iso"
    etree.SubElement(domain, "title").text = "Install from ISO (demo)"
    etree.SubElement(domain, "memory", unit="MiB").text = str(memory_mib)
    etree.SubElement(domain, "vcpu", placement="static").text = "1"
    os_el = etree.SubElement(domain, "os")
    etree.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    etree.SubElement(os_el, "boot", dev="hd")
    etree.SubElement(os_el, "boot", dev="cdrom")
    features = etree.SubElement(domain, "features")
    etree.SubElement(features, "acpi")
    etree.SubElement(features, "apic")
    etree.SubElement(domain, "on_poweroff").text = "destroy"
    etree.SubElement(domain, "on_reboot").text = "restart"
    etree.SubElement(domain, "on_crash").text = "destroy"
    devices = etree.SubElement(domain, "devices")
    # The VM's own (blank) disk: provisioning fills in the source.
    disk = etree.SubElement(devices, "disk", type="file", device="disk")
    etree.SubElement(disk, "driver", name="qemu", type="raw")
    etree.SubElement(disk, "target", dev="vda", bus="virtio")
    cdrom = etree.SubElement(devices, "disk", type="volume", device="cdrom")
    etree.SubElement(cdrom, "driver", name="qemu", type="raw")
    etree.SubElement(cdrom, "source", pool=POOL, volume=iso_volume)
    etree.SubElement(cdrom, "target", dev=CDROM_TARGET, bus="ide")
    etree.SubElement(cdrom, "readonly")
    serial = etree.SubElement(devices, "serial", type="pty")
    etree.SubElement(serial, "target", port="0")
    console = etree.SubElement(devices, "console", type="pty")
    etree.SubElement(console, "target", type="serial", port="0")
    # No listen address or password here: each VM gets its own (vms.domainxml.vm.build_vm_domain).
    etree.SubElement(devices, "graphics", type="vnc", autoport="yes")
    video = etree.SubElement(devices, "video")
    etree.SubElement(video, "model", type="vga", vram="16384", heads="1")
    etree.SubElement(devices, "memballoon", model="none")
    return etree.tostring(domain, encoding="unicode", pretty_print=True)
