"""The one guard on every staff page (`/manage/...`, the approvals inbox, the fleet overview).

It lives in `vms` because that is the lowest app with staff pages and where "admin" is defined
(`vms.permissions.is_admin`); `portal` sits on `vms` and imports it from here.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from vms.permissions import is_admin


def staff_required(view):
    """Anonymous: to the login page. Logged in but not an admin: 403 (not a login loop).

    The wrapper is marked `staff_only`, so tests can find every staff page from the URL resolver.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_admin(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapper.staff_only = True
    return wrapper
