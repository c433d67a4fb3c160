"""Short-lived tickets that let one user open one VM's graphical console once.

Why a ticket on top of the session cookie: the websocket is opened by script from our page, and a
ticket fetched with a CSRF-checked POST proves that. It also limits what a leaked URL (proxy logs,
browser history) is worth: 60 seconds, one VM, one user, one use.

A ticket is signed with the SECRET_KEY (TimestampSigner, salt "vnc-console"): nothing is stored to
issue it. Using it records its digest in Redis (SET NX with a TTL a little longer than its life), so a
second use fails; the ticket itself never reaches Redis.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid as uuid_lib

from django.core import signing

from vms.watcher.store import PREFIX, async_redis, sync_redis

SALT = "vnc-console"
MAX_AGE_S = 60
_USED_TTL_S = MAX_AGE_S + 10


def _used_key(token: str) -> str:
    return f"{PREFIX}:console-token:used:{hashlib.sha256(token.encode()).hexdigest()}"


def issue(user_id: int, vm_uuid: object) -> str:
    """A new ticket for this user and VM (a nonce makes each one distinct, even within a second)."""
    payload = {"u": int(user_id), "vm": str(uuid_lib.UUID(str(vm_uuid))), "n": secrets.token_urlsafe(9)}
    return signing.TimestampSigner(salt=SALT).sign_object(payload, compress=False)


def is_valid(token: str | None, user_id: int, vm_uuid: object, max_age: float = MAX_AGE_S) -> bool:
    """Signed by us, not older than `max_age`, and for exactly this user and VM (used or not)."""
    if not token or len(token) > 512:
        return False
    try:
        payload = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=max_age)
    except (signing.BadSignature, ValueError):  # SignatureExpired is a BadSignature
        return False
    if not isinstance(payload, dict):
        return False
    try:
        same_vm = uuid_lib.UUID(str(payload.get("vm"))) == uuid_lib.UUID(str(vm_uuid))
    except ValueError:
        return False
    return same_vm and payload.get("u") == user_id


def consume(token: str | None, user_id: int, vm_uuid: object) -> bool:
    """Valid and not used before; marks it used."""
    if not is_valid(token, user_id, vm_uuid):
        return False
    return bool(sync_redis().set(_used_key(token), b"1", nx=True, ex=_USED_TTL_S))


async def aconsume(token: str | None, user_id: int, vm_uuid: object) -> bool:
    """`consume` for consumers (the signature check is pure CPU; Redis is awaited)."""
    if not is_valid(token, user_id, vm_uuid):
        return False
    return bool(await async_redis().set(_used_key(token), b"1", nx=True, ex=_USED_TTL_S))
