"""The Redis clients every app shares, and the tag that keeps one database's keys apart from another's.

Keys that belong to one database (leases, live watchers, sockets) carry a tag of that database, so a
test run and a dev server on the same Redis never take each other's hosts.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings

PREFIX = "kvmdash"


def database_tag() -> str:
    db = settings.DATABASES["default"]
    ident = f"{db['ENGINE']}|{db.get('HOST', '')}|{db.get('PORT', '')}|{db['NAME']}"
    return hashlib.sha256(ident.encode()).hexdigest()[:10]


_sync_client: redis.Redis | None = None
# One async client per event loop: a connection pool cannot move between loops (tests run many loops).
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def sync_redis() -> redis.Redis:
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(settings.REDIS_URL)
    return _sync_client


def async_redis() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        _async_clients[loop] = client
    return client
