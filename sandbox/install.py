"""What the sandbox installs into every host's storage pool."""

from __future__ import annotations

from pathlib import Path

from sandbox.demo_guest import DemoGuest

DEMO_KERNEL_VOLUME = "demo-vmlinuz"
DEMO_INITRD_VOLUME = "demo-initrd.img"


def demo_guest_volumes(guest: DemoGuest) -> dict[str, Path]:
    return {DEMO_KERNEL_VOLUME: guest.kernel, DEMO_INITRD_VOLUME: guest.initrd}
