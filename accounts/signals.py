"""Failed and successful password logins, whatever the door (the login page, the admin's, any authenticate()).

django.contrib.auth sends `user_login_failed` for a wrong password: it is counted per account and per
address (accounts/throttle.py) and written to the audit log as `login.failed` until a window is full,
then once as `login.throttled`. The login forms (accounts/forms.py) refuse before trying while it is full.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed

from accounts import throttle
from audit import log as audit_log
from audit.choices import AuditResult


def client_address(request) -> str:
    """The address the request came from (REMOTE_ADDR: a proxy in front sets it, e.g. uvicorn --proxy-headers)."""
    if request is None:
        return ""
    return (getattr(request, "META", {}) or {}).get("REMOTE_ADDR", "") or ""


def _account(username: str):
    if not username:
        return None
    User = get_user_model()
    return User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).first()


def note_failure(username: str, address: str, via: str, reason: str = "", account=None, obj=None) -> None:
    """Count a failed login against `username` (if given) and `address`, and, while the windows have room,
    write it to the audit log (actor: `account`, or the account of that name)."""
    record, filled = throttle.failed(username, address)
    if not (record or filled):
        return
    account = account if account is not None else _account(username)
    name = username or (account.get_username() if account is not None else "")
    details = {"username": name[:150], "address": address, "via": via}
    if reason:
        details["reason"] = reason
    if record:
        # The account's owner sees failed logins to it in their audit log (actor = that account).
        audit_log.record(account, "login.failed", obj, AuditResult.REFUSED, **details)
    for block in filled:
        audit_log.record(
            account,
            "login.throttled",
            obj,
            AuditResult.REFUSED,
            scope=block.scope,
            minutes=throttle.minutes(block.seconds),
            **details,
        )


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str((credentials or {}).get("username") or "")
    note_failure(username, client_address(request), "password")


def on_logged_in(sender, request, user, **kwargs) -> None:
    throttle.succeeded(user.get_username())


def connect() -> None:
    user_login_failed.connect(on_login_failed, dispatch_uid="accounts.login_failed")
    user_logged_in.connect(on_logged_in, dispatch_uid="accounts.logged_in")
