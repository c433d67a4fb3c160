"""The menu's count of requests waiting for approval, for staff (base.html shows it on "Approvals")."""

from __future__ import annotations

from functools import cache

from django.http import HttpRequest

from portal.selectors import pending_requests
from vms.permissions import is_admin


def pending_approvals(request: HttpRequest) -> dict:
    # Lazy and counted once: a page that does not render the menu never runs the query, one that does
    # runs it once however often the template reads it.
    if not is_admin(getattr(request, "user", None)):
        return {}
    return {"pending_approvals": cache(lambda: pending_requests().count())}
