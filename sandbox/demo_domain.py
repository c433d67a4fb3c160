"""The demo guest's domain XML: direct kernel boot from the host's pool, serial console, and with
`screen` a VGA card shown on a VNC display as well (what a newcomer tries the graphical console on)."""

from __future__ import annotations

from lxml import etree

from sandbox.fleet import POOL_PATH
from sandbox.install import DEMO_INITRD_VOLUME, DEMO_KERNEL_VOLUME

DEMO_KERNEL_PATH = f"{POOL_PATH}/{DEMO_KERNEL_VOLUME}"
DEMO_INITRD_PATH = f"{POOL_PATH}/{DEMO_INITRD_VOLUME}"


def demo_domain_xml(
    name: str,
    uuid: str | None,
    cmdline: str,
    memory_mib: int = 128,
    vcpus: int = 1,
    disk_path: str | None = None,
    disk_format: str = "qcow2",
    screen: bool = False,
    bridge: str | None = None,
    network: str | None = None,
) -> str:
    """The demo guest's XML; `bridge` adds a virtio NIC on that host bridge (e.g. the sandbox's br0),
    `network` one on that libvirt network (e.g. `default`, NAT): on every NIC the guest asks for an
    address by DHCP."""
    domain = etree.Element("domain", type="qemu")
    etree.SubElement(domain, "name").text = name
    if uuid:
        etree.SubElement(domain, "uuid").text = uuid
    etree.SubElement(domain, "title").text = "Demo guest"
    etree.SubElement(domain, "memory", unit="MiB").text = str(memory_mib)
    etree.SubElement(domain, "vcpu", placement="static").text = str(vcpus)
    os_el = etree.SubElement(domain, "os")
    etree.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    etree.SubElement(os_el, "kernel").text = DEMO_KERNEL_PATH
    etree.SubElement(os_el, "initrd").text = DEMO_INITRD_PATH
    etree.SubElement(os_el, "cmdline").text = cmdline
    features = etree.SubElement(domain, "features")
    etree.SubElement(features, "acpi")
    etree.SubElement(features, "apic")
    etree.SubElement(domain, "on_poweroff").text = "destroy"
    etree.SubElement(domain, "on_reboot").text = "restart"
    etree.SubElement(domain, "on_crash").text = "destroy"
    devices = etree.SubElement(domain, "devices")
    if disk_path:
        disk = etree.SubElement(devices, "disk", type="file", device="disk")
        etree.SubElement(disk, "driver", name="qemu", type=disk_format)
        etree.SubElement(disk, "source", file=disk_path)
        etree.SubElement(disk, "target", dev="vda", bus="virtio")
    if bridge:
        iface = etree.SubElement(devices, "interface", type="bridge")
        etree.SubElement(iface, "source", bridge=bridge)
        etree.SubElement(iface, "model", type="virtio")
    if network:
        iface = etree.SubElement(devices, "interface", type="network")
        etree.SubElement(iface, "source", network=network)
        etree.SubElement(iface, "model", type="virtio")
    serial = etree.SubElement(devices, "serial", type="pty")
    etree.SubElement(serial, "target", port="0")
    console = etree.SubElement(devices, "console", type="pty")
    etree.SubElement(console, "target", type="serial", port="0")
    if screen:
        # No listen address or password here: each VM gets its own (vms.domainxml.vm.build_vm_domain).
        etree.SubElement(devices, "graphics", type="vnc", autoport="yes")
        video = etree.SubElement(devices, "video")
        etree.SubElement(video, "model", type="vga", vram="16384", heads="1")
    # A balloon, so that a running VM's memory can change live (docs/resize.md).
    etree.SubElement(devices, "memballoon", model="virtio")
    return etree.tostring(domain, encoding="unicode", pretty_print=True)
