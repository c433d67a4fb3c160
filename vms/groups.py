"""Channel-layer group names of hosts and VMs, built in one place so producers and consumers agree."""

from __future__ import annotations

# Every change an admin or operator may see: the fleet page and the VM lists listen here.
FLEET = "fleet"


def vm_group(vm_uuid: object) -> str:
    return f"vm.{vm_uuid}"


def host_group(host_id: int) -> str:
    return f"host.{host_id}"


def console_group(vm_uuid: object) -> str:
    return f"console.{vm_uuid}"
