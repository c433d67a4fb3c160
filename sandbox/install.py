"""What the sandbox installs into every host's storage pool."""

from __future__ import annotations

from pathlib import Path

from sandbox.demo_guest import DemoGuest

DEMO_KERNEL_VOLUME = "demo-vmlinuz"
DEMO_INITRD_VOLUME = "demo-initrd.img"
# The demo installer ISO (sandbox/installer_iso.py), also registered in the image library under this volume.
DEMO_INSTALLER_VOLUME = "demo-installer.iso"


def demo_guest_volumes(guest: DemoGuest) -> dict[str, Path]:
    return {DEMO_KERNEL_VOLUME: guest.kernel, DEMO_INITRD_VOLUME: guest.initrd}
