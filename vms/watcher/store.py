"""Redis for the watcher and the consumers: key names and clients, in one place.

Keys that belong to one database (leases, live watchers) carry a tag of that database, so a test run
and a dev server on the same Redis never take each other's hosts. Keys of one VM (scrollback, stats)
are keyed by its UUID, unique everywhere.
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


def lease_key(host_id: int) -> str:
    return f"{PREFIX}:{database_tag()}:lease:host:{host_id}"


def watcher_key(watcher_id: str) -> str:
    return f"{PREFIX}:{database_tag()}:watcher:{watcher_id}"


def watcher_pattern() -> str:
    return f"{PREFIX}:{database_tag()}:watcher:*"


def scrollback_key(vm_uuid: object) -> str:
    return f"{PREFIX}:console:{vm_uuid}:buffer"


def scrollback_end_key(vm_uuid: object) -> str:
    """Bytes ever written to the console: lets a viewer drop live output its scrollback already had."""
    return f"{PREFIX}:console:{vm_uuid}:end"


def console_open_key(vm_uuid: object) -> str:
    """Present while a watcher holds the VM's console stream (expires if that watcher dies)."""
    return f"{PREFIX}:console:{vm_uuid}:open"


def console_input_channel(vm_uuid: object) -> str:
    return f"{PREFIX}:console-input:{vm_uuid}"


CONSOLE_INPUT_PATTERN = f"{PREFIX}:console-input:*"


def stats_key(vm_uuid: object) -> str:
    return f"{PREFIX}:stats:{vm_uuid}"


def observed_key(vm_uuid: object) -> str:
    return f"{PREFIX}:observed:{vm_uuid}"


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
