"""Find a Redis for the broker, the channel layer and leases.

Order: REDIS_URL when set; else a Redis answering on 127.0.0.1:6379; else a private
`redis-server` on a unix socket under var/, started on first use and shared by every
process of the project (web, worker, watcher) through that socket.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DEFAULT_TCP = ("127.0.0.1", 6379)


class RedisUnavailable(RuntimeError):
    pass


def _answers(family: int, address: object, timeout: float = 0.3) -> bool:
    """True when a Redis server replies +PONG at the address."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def tcp_answers(host: str, port: int) -> bool:
    return _answers(socket.AF_INET, (host, port))


def unix_answers(path: Path) -> bool:
    return path.exists() and _answers(socket.AF_UNIX, str(path))


def start_private_redis(var_dir: Path, wait_seconds: float = 10.0) -> Path:
    """Start (once) a redis-server on var/redis/redis.sock and return the socket path."""
    run_dir = var_dir / "redis"
    run_dir.mkdir(parents=True, exist_ok=True)
    sock = run_dir / "redis.sock"
    # A lock so that web, worker and watcher starting together launch one server, not three.
    with open(run_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if unix_answers(sock):
            return sock
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable(
                "No Redis answers on 127.0.0.1:6379 and redis-server is not installed; "
                "install the 'redis-server' package or set REDIS_URL."
            )
        subprocess.run(
            [
                binary,
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--pidfile",
                str(run_dir / "redis.pid"),
                "--logfile",
                str(run_dir / "redis.log"),
                "--dir",
                str(run_dir),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if unix_answers(sock):
                return sock
            time.sleep(0.05)
    raise RedisUnavailable(f"redis-server did not answer on {sock}; see {run_dir / 'redis.log'}.")


def resolve_redis_url(
    var_dir: Path,
    environ: dict[str, str] | None = None,
    start: bool = True,
    tcp: tuple[str, int] = DEFAULT_TCP,
) -> str:
    environ = os.environ if environ is None else environ
    explicit = environ.get("REDIS_URL")
    if explicit:
        return explicit
    if tcp_answers(*tcp):
        return f"redis://{tcp[0]}:{tcp[1]}/0"
    sock = var_dir / "redis" / "redis.sock"
    if unix_answers(sock):
        return f"unix://{sock}?db=0"
    if not start:
        raise RedisUnavailable("No Redis found and starting one was not allowed; set REDIS_URL.")
    return f"unix://{start_private_redis(var_dir)}?db=0"
