"""Channel-layer group names, built in one place so producers and consumers agree."""

from __future__ import annotations

FLEET = "fleet"


def vm_group(vm_uuid: object) -> str:
    return f"vm.{vm_uuid}"


def host_group(host_id: int) -> str:
    return f"host.{host_id}"


def job_group(job_id: int) -> str:
    return f"job.{job_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def console_group(vm_uuid: object) -> str:
    return f"console.{vm_uuid}"
