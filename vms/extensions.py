"""Where an app built on top of vms (the portal) extends a VM behaviour: it registers here when it
starts, and vms calls what was registered. vms never imports the apps above it.

- `create_for_non_staff(user, data) -> dict`: what `POST /api/v1/vms/` does for a user who is not
  staff (the portal turns it into a request: quota, approval, audit). Unset: only staff create VMs.
- `vm_list_context`: functions `(request) -> dict` whose results are added to the VM list page.
- `check_growth(owner, vcpus=, memory_mib=, disk_gib=)`: the quota check of a VM growing (resize,
  a new disk).
- `check_new_vm(owner, template, vcpus=, memory_mib=, disk_gib=)`: a VM made without a request (a
  clone): the request's quota, and whether its template lets new VMs in without an admin's approval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

create_for_non_staff: Callable[[Any, Any], dict] | None = None
vm_list_context: list[Callable[[Any], dict]] = []


def register_create_for_non_staff(handler: Callable[[Any, Any], dict]) -> None:
    global create_for_non_staff
    create_for_non_staff = handler


def register_vm_list_context(provider: Callable[[Any], dict]) -> None:
    if provider not in vm_list_context:
        vm_list_context.append(provider)


# `check_growth(owner, vcpus=, memory_mib=, disk_gib=)`: raise ValidationError({"quota": ...}) when
# growing one of `owner`'s VMs by these amounts would exceed a quota (the portal's rules, pending
# requests included). Called inside the transaction that records the change, so that two changes
# racing cannot both fit. Unset: no quota.
check_growth: Callable[..., None] | None = None


def register_check_growth(handler: Callable[..., None]) -> None:
    global check_growth
    check_growth = handler


# `check_new_vm(owner, template, vcpus=, memory_mib=, disk_gib=)`: raise ValidationError when `owner`
# may not get one more VM of `template` of these sizes without a request (quota; a template whose new
# VMs need approval). Called inside the transaction that records the VM. Unset: no rules.
check_new_vm: Callable[..., None] | None = None


def register_check_new_vm(handler: Callable[..., None]) -> None:
    global check_new_vm
    check_new_vm = handler
