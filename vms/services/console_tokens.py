"""Short-lived tickets that let one user open one VM's graphical console once (VNC), or for a few
seconds (SPICE).

Why a ticket on top of the session cookie: the websocket is opened by script from our page, and a
ticket fetched with a CSRF-checked POST proves that. It also limits what a leaked URL (proxy logs,
browser history) is worth: 60 seconds, one VM, one user, one use.

A ticket is signed with the SECRET_KEY (TimestampSigner, salt "vnc-console"): nothing is stored to
issue it. Using it records its digest in Redis (SET NX with a TTL a little longer than its life), so a
second use fails; the ticket itself never reaches Redis.

Kinds: a ticket names the display type it is for ("vnc" or "spice"; tickets without one are "vnc"), so
a VNC ticket never opens a SPICE socket and the other way round. A SPICE client opens one websocket per
SPICE *channel* (main first, then display, inputs, cursor, playback... once the main channel lists
them), all to the same URL, so a SPICE ticket may be used again by the same user for the same VM for
SPICE_REUSE_S seconds after its first use (and never after the ticket's own 60 s). The first use's time
is Redis's own clock (TIME, in a script), so several web servers agree on the window.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid as uuid_lib

from django.core import signing

from live.redis import PREFIX, async_redis, sync_redis

SALT = "vnc-console"
MAX_AGE_S = 60
_USED_TTL_S = MAX_AGE_S + 10
KINDS = ("vnc", "spice")
SPICE_REUSE_S = 10.0

# KEYS[1]: the ticket's "used" key. ARGV: TTL (s), reuse window (ms; 0: one use).
# Returns 1 if this use is allowed: the first one, or a later one within the window of the first.
_USE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local first = redis.call('GET', KEYS[1])
if not first then
  redis.call('SET', KEYS[1], now, 'EX', tonumber(ARGV[1]))
  return 1
end
local window = tonumber(ARGV[2])
if window > 0 and now - tonumber(first) <= window then
  return 1
end
return 0
"""


def _used_key(token: str) -> str:
    return f"{PREFIX}:console-token:used:{hashlib.sha256(token.encode()).hexdigest()}"


def issue(user_id: int, vm_uuid: object, kind: str = "vnc") -> str:
    """A new ticket for this user, VM and display type (a nonce makes each one distinct)."""
    if kind not in KINDS:
        raise ValueError(f"unknown display type {kind!r}")
    payload = {"u": int(user_id), "vm": str(uuid_lib.UUID(str(vm_uuid))), "n": secrets.token_urlsafe(9)}
    if kind != "vnc":
        payload["k"] = kind  # VNC tickets carry no kind: those issued before kinds existed stay valid
    return signing.TimestampSigner(salt=SALT).sign_object(payload, compress=False)


def is_valid(token: str | None, user_id: int, vm_uuid: object, max_age: float = MAX_AGE_S, kind: str = "vnc") -> bool:
    """Signed by us, not older than `max_age`, for exactly this user, VM and display type (used or not)."""
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
    return same_vm and payload.get("u") == user_id and payload.get("k", "vnc") == kind


def _window_ms(kind: str) -> int:
    return int(SPICE_REUSE_S * 1000) if kind == "spice" else 0


def consume(token: str | None, user_id: int, vm_uuid: object, kind: str = "vnc") -> bool:
    """Valid and not used before (SPICE: or first used less than SPICE_REUSE_S ago); marks it used."""
    if not is_valid(token, user_id, vm_uuid, kind=kind):
        return False
    return bool(sync_redis().eval(_USE_SCRIPT, 1, _used_key(token), _USED_TTL_S, _window_ms(kind)))


async def aconsume(token: str | None, user_id: int, vm_uuid: object, kind: str = "vnc") -> bool:
    """`consume` for consumers (the signature check is pure CPU; Redis is awaited)."""
    if not is_valid(token, user_id, vm_uuid, kind=kind):
        return False
    return bool(await async_redis().eval(_USE_SCRIPT, 1, _used_key(token), _USED_TTL_S, _window_ms(kind)))
