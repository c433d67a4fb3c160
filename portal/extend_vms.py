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


def register() -> None:
    extensions.register_vm_list_context(vm_list_context)
    extensions.register_create_for_non_staff(create_for_non_staff)
