"""Opening libvirt connections, and a per-process pool keyed by URI.

Workers fork: a connection opened before the fork must not be shared, so the pool
remembers the pid that filled it and starts empty in a child.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import libvirt

from vms.hypervisor import ssh
from vms.hypervisor.errors import HostUnreachable, HypervisorError, wrap
from vms.hypervisor.uris import safe_uri

T = TypeVar("T")


def open_connection(uri: str, identity: ssh.SshIdentity | None = None) -> libvirt.virConnect:
    """A connection to `uri`; SSH hosts through the project's key and known_hosts (hypervisor/ssh.py),
    or through `identity` when given (a check before a host key is pinned: `ssh.trusting_only`).
    Errors name the URI as the admin wrote it, never the key paths."""
    try:
        conn = libvirt.open(ssh.transport_uri(uri, identity or ssh.identity()))
    except libvirt.libvirtError as exc:
        error = HostUnreachable(
            f"connect to {safe_uri(uri)}", "", exc.get_error_message() or str(exc), exc.get_error_code()
        )
        error.uri = uri  # so the caller can say an SSH failure in words about this host
        raise error from exc
    if conn is None:  # older bindings returned None instead of raising
        raise HostUnreachable(f"connect to {safe_uri(uri)}", "", "libvirt returned no connection")
    if not uri.startswith("test:"):
        try:
            # Notice a hung daemon within ~15 s instead of waiting on TCP timeouts.
            conn.setKeepAlive(5, 3)
        except libvirt.libvirtError:
            pass
    return conn


class ConnectionPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._conns: dict[str, libvirt.virConnect] = {}

    def get(self, uri: str) -> libvirt.virConnect:
        with self._lock:
            if self._pid != os.getpid():
                self._conns = {}
                self._pid = os.getpid()
            conn = self._conns.get(uri)
            if conn is not None:
                try:
                    if conn.isAlive():
                        return conn
                except libvirt.libvirtError:
                    pass
                self._drop(uri)
            conn = open_connection(uri)
            self._conns[uri] = conn
            return conn

    def discard(self, uri: str) -> None:
        with self._lock:
            self._drop(uri)

    def _drop(self, uri: str) -> None:
        conn = self._conns.pop(uri, None)
        if conn is not None:
            try:
                conn.close()
            except libvirt.libvirtError:
                pass

    def close_all(self) -> None:
        with self._lock:
            for uri in list(self._conns):
                self._drop(uri)


pool = ConnectionPool()


@contextmanager
def connection(uri: str) -> Iterator[libvirt.virConnect]:
    """A pooled connection; a broken one is dropped so the next call reconnects."""
    conn = pool.get(uri)
    try:
        yield conn
    except HypervisorError as exc:
        if isinstance(exc, HostUnreachable):
            pool.discard(uri)
        raise
    except libvirt.libvirtError as exc:
        pool.discard(uri)
        raise wrap(exc, "talk to the host", safe_uri(uri)) from exc


def call_with_timeout(uri: str, fn: Callable[[libvirt.virConnect], T], timeout: float, action: str) -> T:
    """fn(conn) on a fresh connection of its own, given at most `timeout` seconds.

    For a request a person waits on (the Storage page): libvirt calls have no deadline of their own,
    and a host that hangs would hold the web request for as long as TCP keeps trying. The call runs
    in a daemon thread; past the deadline we answer "no answer" and leave the thread to finish or fail
    alone, on its own connection (never the shared pool's), which it closes.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            conn = open_connection(uri)
            try:
                outcome["value"] = fn(conn)
            finally:
                try:
                    conn.close()
                except libvirt.libvirtError:
                    pass
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name=f"libvirt-call {safe_uri(uri)}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise HostUnreachable(action, safe_uri(uri), f"no answer within {timeout:.0f} s")
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, libvirt.libvirtError):
            raise wrap(error, action, safe_uri(uri)) from error
        raise error  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
