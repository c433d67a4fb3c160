"""Counting failures in Redis, with expiry: failed logins (per account, per address) and, for the portal,
refused submissions (per user). A Redis that cannot be reached lets people in (logged), never locks them out.

Keys carry the database's tag (live.redis.database_tag), so a test run and a dev server on one Redis
never count each other's failures.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass

import redis
from django.conf import settings
from django.utils.translation import ngettext

from live.redis import PREFIX, database_tag, sync_redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """A fixed window: at most `limit` hits in `seconds`, counted from the first."""

    name: str
    limit: int
    seconds: int

    def key(self, who: str) -> str:
        digest = hashlib.sha256(who.encode()).hexdigest()[:24]
        return f"{PREFIX}:{database_tag()}:{self.name}:{digest}"

    def count(self, who: str) -> tuple[int, int]:
        """(hits so far, seconds until the window ends)."""
        try:
            pipe = sync_redis().pipeline()
            pipe.get(self.key(who))
            pipe.ttl(self.key(who))
            raw, ttl = pipe.execute()
        except redis.RedisError:
            log.warning("rate limit %s: Redis unreachable, not limiting", self.name, exc_info=True)
            return 0, 0
        return int(raw or 0), max(int(ttl or 0), 0)

    def full(self, who: str) -> int:
        """Seconds until `who` may try again, or 0 when there is room in the window."""
        hits, ttl = self.count(who)
        return max(ttl, 1) if hits >= self.limit else 0

    def hit(self, who: str) -> int:
        """Count one more; the number of hits in the window, this one included."""
        key = self.key(who)
        try:
            pipe = sync_redis().pipeline()
            pipe.set(key, 0, ex=self.seconds, nx=True)  # the window starts with the first hit
            pipe.incr(key)
            return int(pipe.execute()[1])
        except redis.RedisError:
            log.warning("rate limit %s: Redis unreachable, not counting", self.name, exc_info=True)
            return 0

    def clear(self, who: str) -> None:
        try:
            sync_redis().delete(self.key(who))
        except redis.RedisError:
            log.warning("rate limit %s: Redis unreachable, not cleared", self.name, exc_info=True)


def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


# --- failed logins ----------------------------------------------------------------------------------


def account_window() -> Window:
    return Window("login-failures:account", settings.LOGIN_FAILURES_PER_ACCOUNT, settings.LOGIN_FAILURE_WINDOW)


def address_window() -> Window:
    return Window("login-failures:address", settings.LOGIN_FAILURES_PER_ADDRESS, settings.LOGIN_FAILURE_WINDOW)


def account_key(username: str) -> str:
    return (username or "").strip().lower()


@dataclass(frozen=True)
class Blocked:
    scope: str  # "account" or "address"
    seconds: int

    @property
    def message(self) -> str:
        n = minutes(self.seconds)
        if self.scope == "account":
            text = ngettext(
                "Too many failed logins for this account; try again in %(n)d minute.",
                "Too many failed logins for this account; try again in %(n)d minutes.",
                n,
            )
        else:
            text = ngettext(
                "Too many failed logins from this address; try again in %(n)d minute.",
                "Too many failed logins from this address; try again in %(n)d minutes.",
                n,
            )
        return text % {"n": n}


def blocked(username: str | None, address: str | None) -> Blocked | None:
    """Whether a login (password: account and address; API token: address only) is refused before it is tried."""
    if username:
        wait = account_window().full(account_key(username))
        if wait:
            return Blocked("account", wait)
    if address:
        wait = address_window().full(address)
        if wait:
            return Blocked("address", wait)
    return None


def failed(username: str | None, address: str | None) -> tuple[bool, list[Blocked]]:
    """Count a failed login. (record it?, the windows this failure filled).

    Failures are recorded in the audit log until a window is full, and the filling one as `login.throttled`;
    after that nothing more is written, however long someone keeps trying.
    """
    counts = []
    if username:
        window = account_window()
        counts.append(("account", window, window.hit(account_key(username))))
    if address:
        window = address_window()
        counts.append(("address", window, window.hit(address)))
    record = all(n <= w.limit for _scope, w, n in counts) if counts else True
    filled = [Blocked(scope, w.seconds) for scope, w, n in counts if n == w.limit]
    return record, filled


def succeeded(username: str) -> None:
    """A right password clears the account's count (not the address's)."""
    account_window().clear(account_key(username))
