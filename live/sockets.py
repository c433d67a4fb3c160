"""Websockets that belong to a login session: registered per user in Redis, closed on logout.

Each socket records its channel name under its user with a digest of its session key; the
`user_logged_out` receiver sends "session.closed" to the sockets of the session that logged out.
"""

from __future__ import annotations

import hashlib
import time

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from live.redis import async_redis, sync_redis

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
SESSION_RECHECK_S = 5.0
SOCKETS_TTL_S = 24 * 3600


def session_tag(session_key: str | None) -> str:
    # Stored in Redis beside the channel name: a digest, never the session key itself.
    return hashlib.sha256(session_key.encode()).hexdigest()[:16] if session_key else ""


def sockets_key(user_id: int) -> str:
    return f"kvmdash:sockets:user:{user_id}"


class SessionSocket(AsyncJsonWebsocketConsumer):
    """Base for our consumers: join groups, remember the session, close on logout."""

    async def refuse(self, code: int) -> None:
        """Accept only to close with a code the page can read (a refused handshake shows none)."""
        await self.accept()
        await self.close(code=code)

    async def start_session(self, user, groups: list[str]) -> None:
        """Join groups and register for logout. Call before accept(): a logout right after the
        handshake must already find this socket."""
        self.user_id = user.pk
        self.session_key = self.scope["session"].session_key
        self.session_checked_at = time.monotonic()
        self.joined = list(groups)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        client = async_redis()
        await client.hset(sockets_key(user.pk), self.channel_name, session_tag(self.session_key))
        await client.expire(sockets_key(user.pk), SOCKETS_TTL_S)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        if hasattr(self, "user_id"):
            await async_redis().hdel(sockets_key(self.user_id), self.channel_name)

    async def session_closed(self, event: dict) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def session_still_valid(self) -> bool:
        """Logout closes sockets at once; this also catches sessions that expired or were deleted."""
        if time.monotonic() - self.session_checked_at < SESSION_RECHECK_S:
            return True
        self.session_checked_at = time.monotonic()
        return bool(self.session_key) and await database_sync_to_async(self.scope["session"].exists)(self.session_key)

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
