"""API tokens: issue (the key is returned once), revoke (by the owner), check (the authentication's one reader).

A key is `kvm_` + 43 random URL-safe characters; the database keeps sha256(key) and its first 12 characters.
Keys made by rest_framework.authtoken (40 hex characters) were hashed into the same table by
migrations/0002, so clients that had one keep working.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.models import ApiToken, TokenState
from audit import log as audit_log

KEY_PREFIX = "kvm_"
MAX_DAYS = 3650
MAX_NAME = 100
DEFAULT_NAME = "API token"
# last_used_at is written at most this often per token: not one UPDATE per API call.
TOUCH_EVERY = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    key: str  # shown once; never stored


def issue(user, name: str = "", expires_in_days: int | None = None, *, actor=None) -> Issued:
    """A new token for `user`; `actor` is who asked, for the audit log (None: a command, nobody logged in)."""
    name = (name or "").strip() or DEFAULT_NAME
    errors = {}
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        errors["name"] = _("Use one line of at most %(n)d characters for the name.") % {"n": MAX_NAME}
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_DAYS:
        errors["expires_in_days"] = _("Choose between 1 and %(n)d days, or no expiry.") % {"n": MAX_DAYS}
    if errors:
        raise ValidationError(errors)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            key_hash=hash_key(key),
            prefix=key[:12],
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        )
        audit_log.record(
            actor,
            "token.create",
            token,
            user=user.get_username(),
            expires_at=token.expires_at.isoformat() if token.expires_at else None,
        )
    return Issued(token, key)


def revoke(token: ApiToken, actor) -> ApiToken:
    """The owner (or an admin) revokes a token; it answers "revoked" from then on. Revoking twice changes nothing."""
    if not (actor.is_staff or token.user_id == actor.pk):
        raise PermissionDenied(_("Only the owner of a token may revoke it."))
    with transaction.atomic():
        now = timezone.now()
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
            token.revoked_at = now
            audit_log.record(actor, "token.revoke", token, user=token.user.get_username())
        else:
            token.refresh_from_db(fields=["revoked_at"])
    return token


class TokenRefused(Exception):
    """A key that does not let anyone in, and why (in words for the client)."""

    def __init__(self, reason: str, message: str, token: ApiToken | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.token = token


def _when(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def check(key: str) -> ApiToken:
    """The token of this key if it may be used now (its user loaded); TokenRefused with the reason otherwise."""
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
    if token is None:
        raise TokenRefused("unknown", _("Invalid token."))
    now = timezone.now()
    state = token.state_at(now)
    if state == TokenState.REVOKED:
        raise TokenRefused(
            "revoked", _("This API token was revoked on %(when)s.") % {"when": _when(token.revoked_at)}, token
        )
    if state == TokenState.EXPIRED:
        raise TokenRefused(
            "expired",
            _("This API token expired on %(when)s; make a new one.") % {"when": _when(token.expires_at)},
            token,
        )
    if not token.user.is_active:
        raise TokenRefused("inactive", _("The account of this API token is disabled."), token)
    if token.last_used_at is None or token.last_used_at < now - TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
