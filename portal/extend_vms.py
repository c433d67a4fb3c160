"""What the portal adds to the VM app's pages and API, registered at start (vms/extensions.py)."""

from __future__ import annotations

from portal.choices import OPEN_STATES, RequestState
from portal.models import VMRequest
from vms import extensions


def vm_list_context(request) -> dict:
    """The VM list also shows the user's requests that are not VMs yet."""
    open_requests = VMRequest.objects.filter(requester=request.user, state__in=OPEN_STATES).select_related("template")
    return {"open_requests": open_requests, "request_state_labels": dict(RequestState.choices)}


def create_for_non_staff(user, data) -> dict:
    """`POST /api/v1/vms/` by a user who is not staff becomes a request: atomic quota, approval, audit."""
    from portal.api import VMRequestSerializer, submit_from_api

    req = submit_from_api(user, data)
    return {"request": VMRequestSerializer(req).data}


def check_growth(owner, *, vcpus: int = 0, memory_mib: int = 0, disk_gib: int = 0) -> None:
    """A VM of `owner` grows: the same quota rules as a request (no new VM, only the growth)."""
    from portal.quotas import Usage, ensure_user_row, lock_and_check

    if owner is None or (vcpus <= 0 and memory_mib <= 0 and disk_gib <= 0):
        return
    ensure_user_row(owner)
    lock_and_check(owner, Usage(0, max(vcpus, 0), max(memory_mib, 0), max(disk_gib, 0)))


def check_new_vm(owner, template, *, vcpus: int, memory_mib: int, disk_gib: int) -> None:
    """One more VM of `owner` without a request (a clone): the quota of a request, and no way round the
    template's approval (a clone has no request to approve: an admin makes it for them)."""
    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext as _

    from portal.choices import ApprovalMode
    from portal.quotas import ensure_user_row, lock_and_check, need_for
    from portal.services import approval_mode

    if owner is None or owner.is_staff:
        return
    if approval_mode(owner, template) != ApprovalMode.AUTO:
        raise ValidationError(
            {
                "vm": _(
                    "New VMs of template '%(template)s' need an admin's approval, and a copy has no request "
                    "to approve: ask an admin to clone this VM for you, or request a new VM."
                )
                % {"template": template.name}
            }
        )
    ensure_user_row(owner)
    lock_and_check(owner, need_for(vcpus, memory_mib, disk_gib))


def register() -> None:
    extensions.register_vm_list_context(vm_list_context)
    extensions.register_create_for_non_staff(create_for_non_staff)
    extensions.register_check_growth(check_growth)
    extensions.register_check_new_vm(check_new_vm)
