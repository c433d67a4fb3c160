"""Redis key names of the watcher and the consumers, in one place (the clients are live/redis.py).

Keys that belong to one database (leases, live watchers) carry a tag of that database, so a test run
and a dev server on the same Redis never take each other's hosts. Keys of one VM (scrollback, stats)
are keyed by its UUID, unique everywhere.
"""

from __future__ import annotations

from live.redis import PREFIX, database_tag


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


def addresses_key(vm_uuid: object) -> str:
    """The guest's addresses as its host last told them (expires: a stopped guest's go stale)."""
    return f"{PREFIX}:addresses:{vm_uuid}"
