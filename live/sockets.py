"""Websockets that belong to a login session: closed on logout, re-checked when rights change, and
kept in their channel-layer groups for as long as they are open.

- Logout: each socket records its channel name under its user in Redis with a digest of its session
  key; the `user_logged_out` receiver sends "session.closed" to the sockets of that session (4401).
- Rights: each socket joins its user's sockets group (`live.groups.user_sockets_group`); a change of
  the user's rights or credentials sends "access.changed" there (`live/access.py`, after commit) and
  every socket re-checks in a worker thread (`recheck`): its session still logs the user in (else
  4401), and `access_still_allowed()` (else `access_lost_code`, 4403 unless a subclass says).
- Groups: channels_redis drops a member `group_expiry` seconds (default 24 h) after it joined. A
  socket re-joins its groups (and refreshes its logout registration) every half of that, from a
  task that lives as long as the socket.
- Refusals accept the handshake first, then close with the code (`refuse`): a refused handshake
  reaches a browser as 1006 without a code.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from importlib import import_module

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from live.access import ACCESS_CHANGED  # also connects the receivers that send it
from live.groups import user_sockets_group
from live.redis import PREFIX, async_redis, database_tag, sync_redis

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_BIG = 1009  # RFC 6455: a message too big to process
SESSION_RECHECK_S = 5.0
SOCKETS_TTL_S = 24 * 3600
DEFAULT_GROUP_EXPIRY_S = 86400  # channels_redis's default
MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 123 bytes of UTF-8


def session_tag(session_key: str | None) -> str:
    # Stored in Redis beside the channel name: a digest, never the session key itself.
    return hashlib.sha256(session_key.encode()).hexdigest()[:16] if session_key else ""


def sockets_key(user_id: int) -> str:
    # Tagged with the database: user ids of a test run and a dev server on one Redis are not the same people.
    return f"{PREFIX}:{database_tag()}:sockets:user:{user_id}"


def close_reason(text: str) -> str:
    """`text` cut to what a close frame carries (whole characters only)."""
    data = text.encode()
    return text if len(data) <= MAX_REASON_BYTES else data[:MAX_REASON_BYTES].decode(errors="ignore")


def active_user(user_id: int | None):
    """The user as stored now, or None if deleted or deactivated (sync: call it in a thread)."""
    if user_id is None:
        return None
    user = get_user_model()._default_manager.filter(pk=user_id).first()
    return user if user is not None and getattr(user, "is_active", True) else None


def session_logs_in(session_store, user_id: int | None):
    """The user if this session still logs them in (it exists, the user is active, its password hash
    is the current one: Django's own rule for a request), else None. Sync: call it in a thread."""
    if session_store is None or user_id is None:
        return None
    data = session_store.load()  # a fresh read; a missing or expired session reads as {}
    if str(data.get(SESSION_KEY)) != str(user_id):
        return None
    user = active_user(user_id)
    session_hash = data.get(HASH_SESSION_KEY)
    if user is None or not session_hash:
        return None
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return user
    fallbacks = getattr(user, "get_session_auth_fallback_hash", None)  # SECRET_KEY_FALLBACKS
    if fallbacks is not None and any(constant_time_compare(session_hash, h) for h in fallbacks()):
        return user
    return None


class SessionSocket(AsyncJsonWebsocketConsumer):
    """Base for our consumers: groups, session, logout, re-checks when rights change.

    Subclasses authorize in connect(), then call `start_session(user, groups)` before accept(), and
    refuse with `refuse(code)`. They say what "still allowed" means by overriding `check_access`
    (sync, in a thread, with the freshly loaded user) or `access_still_allowed` (async), and how to
    close with a reason by overriding `close_for`.
    """

    access_lost_code = CLOSE_FORBIDDEN

    user_id: int | None = None
    session_key: str | None = None
    ended = False  # closed by us or by the browser: nothing more is sent
    keeper: asyncio.Task | None = None

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stop_keeper()  # also when a handler crashed: never keep a dead channel in groups

    # --- opening and closing -------------------------------------------------------------------

    async def refuse(self, code: int, reason: str | None = None) -> None:
        """Accept only to close with a code the page can read (a refused handshake shows none)."""
        await self.accept()
        await self.close(code=code, reason=close_reason(reason) if reason else None)

    async def start_session(self, user, groups: list[str]) -> None:
        """Join groups (and the user's sockets group) and register for logout. Call before accept():
        a logout right after the handshake must already find this socket."""
        self.user_id = user.pk
        self.session_key = self.scope["session"].session_key
        self.session_checked_at = time.monotonic()
        self.joined = list(dict.fromkeys([*groups, user_sockets_group(user.pk)]))
        await self._join()
        # A right taken away after the caller's check but before we joined the sockets group was
        # announced to nobody: check once more, as if told (handled once connect() has returned).
        await self.channel_layer.send(self.channel_name, {"type": ACCESS_CHANGED})
        self.keeper = asyncio.create_task(self._keep_membership())

    async def close(self, code=None, reason=None) -> None:
        if self.ended:
            return
        self.ended = True
        self._stop_keeper()
        await super().close(code=code, reason=reason)

    async def close_for(self, code: int, reason: str) -> None:
        """Close because the session or a right is gone; subclasses may tell the page first."""
        await self.close(code=code, reason=close_reason(reason))

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        if self.ended:
            return  # a broadcast that arrived after we closed
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def websocket_receive(self, message: dict) -> None:
        if self.ended:
            return  # closed (a right taken away, say): frames still in flight reach nothing
        await super().websocket_receive(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        """Most of our sockets only speak: what a browser sends is dropped unparsed."""

    async def disconnect(self, code: int) -> None:
        self.ended = True
        self._stop_keeper()
        async with self._membership_lock():  # after a renewal under way, never before it
            for group in getattr(self, "joined", []):
                await self.channel_layer.group_discard(group, self.channel_name)
        if self.user_id is not None:
            await async_redis().hdel(sockets_key(self.user_id), self.channel_name)

    # --- staying in the groups -----------------------------------------------------------------

    def membership_refresh_s(self) -> float:
        expiry = getattr(self.channel_layer, "group_expiry", DEFAULT_GROUP_EXPIRY_S)
        return max(0.5, min(expiry, SOCKETS_TTL_S) / 2)

    async def _join(self) -> None:
        async with self._membership_lock():
            for group in self.joined:
                await self.channel_layer.group_add(group, self.channel_name)
            client = async_redis()
            await client.hset(sockets_key(self.user_id), self.channel_name, session_tag(self.session_key))
            await client.expire(sockets_key(self.user_id), SOCKETS_TTL_S)

    async def join_group(self, group: str) -> None:
        """Join one more group while open (kept like the others)."""
        async with self._membership_lock():
            if group not in self.joined:
                self.joined.append(group)
                await self.channel_layer.group_add(group, self.channel_name)

    async def leave_group(self, group: str) -> None:
        """Leave a group while open; the renewal cannot put the socket back (same lock)."""
        async with self._membership_lock():
            if group in self.joined:
                self.joined.remove(group)
            await self.channel_layer.group_discard(group, self.channel_name)

    def _membership_lock(self) -> asyncio.Lock:
        if getattr(self, "_lock", None) is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _keep_membership(self) -> None:
        interval = self.membership_refresh_s()
        while not self.ended:
            await asyncio.sleep(interval)
            try:
                await self._join()
            except Exception:  # Redis away for a moment: try again next round
                log.warning("socket %s could not renew its groups", self.channel_name, exc_info=True)

    def _stop_keeper(self) -> None:
        keeper = self.keeper
        if keeper is not None and not keeper.done() and keeper is not asyncio.current_task():
            keeper.cancel()

    # --- session and rights --------------------------------------------------------------------

    async def session_closed(self, event: dict) -> None:
        """Logout of this socket's session (the `user_logged_out` receiver below)."""
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def access_changed(self, event: dict) -> None:
        """The user's rights or credentials changed (live/access.py): re-check now."""
        await self.recheck()

    async def recheck(self) -> bool:
        """Re-check the session and the rights now; close (or downgrade) if they are gone.
        True if the socket is still open."""
        if self.ended:
            return False
        self.session_checked_at = time.monotonic()
        if not await database_sync_to_async(session_logs_in)(self._fresh_session(), self.user_id):
            await self.session_closed({"type": "session.closed"})  # as on logout: 4401
            return False
        verdict = await self.access_still_allowed()
        if verdict is True:
            return True
        # The user may have been deactivated (or the password changed) between the two reads: then it is
        # the session that ended (4401), not a right (4403); ask again so the code says which.
        if not await database_sync_to_async(session_logs_in)(self._fresh_session(), self.user_id):
            await self.session_closed({"type": "session.closed"})
            return False
        reason = verdict if isinstance(verdict, str) and verdict else _("You no longer have access to this.")
        await self.close_for(self.access_lost_code, reason)
        return False

    async def access_still_allowed(self) -> bool | str:
        """May this socket's user still have what it shows? True: yes; False or a reason: close with
        `access_lost_code`. Runs `check_access` in a worker thread with the freshly loaded user."""
        return await database_sync_to_async(self._check_with_fresh_user)()

    def _check_with_fresh_user(self) -> bool | str:
        user = active_user(self.user_id)
        return False if user is None else self.check_access(user)

    def check_access(self, user) -> bool | str:
        """Override (sync, in a worker thread): `user` is active and freshly loaded."""
        return True

    async def session_still_valid(self) -> bool:
        """Logout and password changes close sockets at once; this also catches sessions that expired
        or were deleted, and changes made without signals. At most every SESSION_RECHECK_S."""
        if time.monotonic() - self.session_checked_at < SESSION_RECHECK_S:
            return True
        self.session_checked_at = time.monotonic()
        user = await database_sync_to_async(session_logs_in)(self._fresh_session(), self.user_id)
        return user is not None

    def _fresh_session(self):
        """A new store for this socket's session key, so a check reads the database, not a cache."""
        if not self.session_key:
            return None
        return import_module(settings.SESSION_ENGINE).SessionStore(self.session_key)

    async def broadcast(self, event: dict) -> None:
        """Forward a typed message (see live/broadcast.py)."""
        await self.send_json(event["payload"])


@receiver(user_logged_out, dispatch_uid="live.sockets.close_sockets_on_logout")
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    """Close the websockets of the session that logged out (all of the user's if it is unknown)."""
    if user is None:
        return
    tag = session_tag(getattr(getattr(request, "session", None), "session_key", None))
    client = sync_redis()
    layer = get_channel_layer()
    for channel, socket_tag in client.hgetall(sockets_key(user.pk)).items():
        if tag and socket_tag.decode() != tag:
            continue
        async_to_sync(layer.send)(channel.decode(), {"type": "session.closed"})
        client.hdel(sockets_key(user.pk), channel)
