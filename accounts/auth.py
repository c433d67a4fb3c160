"""`Authorization: Token <key>` for the REST API, against the hashed tokens of accounts/tokens.py.

An address with too many failed logins (wrong, revoked or expired keys, or passwords) is answered 429
before the key is looked at; every refusal says why (403: session authentication comes first).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.authentication import TokenAuthentication, get_authorization_header

from accounts import throttle, tokens
from accounts.signals import client_address, note_failure


class TooManyFailedLogins(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = gettext_lazy("Too many failed logins; try again later.")
    default_code = "throttled"

    def __init__(self, detail=None, wait: int | None = None):
        super().__init__(detail)
        self.wait = wait  # DRF's exception handler turns it into Retry-After


class ApiTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication (same header, same schema), with hashed keys, expiry, revocation, throttling."""

    keyword = "Token"

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() != self.keyword.lower().encode():
            return None
        address = client_address(request)
        block = throttle.blocked(None, address)
        if block is not None:
            raise TooManyFailedLogins(block.message, wait=block.seconds)
        if len(auth) != 2:
            note_failure("", address, "api-token", "malformed")
            raise exceptions.AuthenticationFailed(_("Give the token as 'Authorization: Token <key>'."))
        try:
            key = auth[1].decode()
        except UnicodeError:
            note_failure("", address, "api-token", "malformed")
            raise exceptions.AuthenticationFailed(_("A token holds letters, digits, '-' and '_' only.")) from None
        try:
            token = tokens.check(key)
        except tokens.TokenRefused as refused:
            # Counted per address only: a key names no account until it is found.
            owner = refused.token.user if refused.token else None
            note_failure("", address, "api-token", refused.reason, account=owner, obj=refused.token)
            raise exceptions.AuthenticationFailed(refused.message) from None
        return token.user, token

    def authenticate_credentials(self, key):  # pragma: no cover - authenticate() does it all
        raise NotImplementedError
