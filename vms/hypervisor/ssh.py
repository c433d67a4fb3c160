"""How this project reaches hosts over SSH: one key pair, one known_hosts file that we manage.

No Django here. The deployment gives the directory (settings.SSH_DIR) or a key of its own (a mounted
secret); `configure` is called once per process at start-up and every libvirt connection and console
tunnel then uses the same identity.

How `qemu+ssh` URIs are opened: libvirt's `ssh` transport runs the `ssh` program, which ignores the
URI's `known_hosts` parameter and reads root's ~/.ssh/config and ~/.ssh/known_hosts. So the URI we open
names, with libvirt's `command=` parameter, a two-line wrapper we write next to the key (`ssh -F
<our ssh_config>`): our key, our known_hosts, strict host key checking, batch mode (never a prompt), a
connect timeout and keepalives. An admin writes the URI as everyone does (`qemu+ssh://root@kvm-01/
system`); only the connection we open differs (`transport_uri`), and `command=` stays refused in URIs
people type (vms/hypervisor/uris.py). Measured here, libvirt 9.0's in-process transports are worse:
`libssh` stalls on replies larger than its buffer (getCapabilities waited for the next keepalive, or
forever without an event loop), `libssh2` never notices a daemon that died (the next call, and even
closing the connection, hung), where the `ssh` program exits and the call fails at once.

Host keys are trusted on first use, by a person: `scan_host_key` reads the key a host offers, the admin
compares its fingerprint and confirms, and `pin` writes it. A host whose key later differs is refused
by ssh ("Host key verification failed.") and by the console tunnel.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import ipaddress
import os
import re
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

SSH_SCHEMES = frozenset({"qemu+ssh", "qemu+libssh", "qemu+libssh2"})
KEY_NAME = "id_ed25519"
KEY_COMMENT = "kvm-dashboard"
SCAN_TIMEOUT_S = 5
# A host name or address as ssh-keyscan receives it: never an option (no leading '-'), nothing a shell
# or ssh would read as more than one name.
_HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,252}$")
_lock = threading.Lock()


class SshError(RuntimeError):
    """Reaching a host over SSH failed; `str()` is a sentence for the admin."""


@dataclass(frozen=True)
class SshIdentity:
    key_file: Path
    public_key_file: Path
    known_hosts: Path
    ssh_command: Path  # the wrapper libvirt runs instead of plain `ssh` (see the module's text)

    def public_key(self) -> str:
        """The line to add to a host's ~root/.ssh/authorized_keys."""
        return self.public_key_file.read_text().strip()


@dataclass(frozen=True)
class HostKey:
    host: str
    port: int
    key_type: str  # "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"
    key: str  # base64, as in known_hosts

    @property
    def fingerprint(self) -> str:
        """OpenSSH's form: SHA256:<base64 without padding>, what `ssh-keygen -l` prints."""
        digest = hashlib.sha256(base64.b64decode(self.key)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    @property
    def known_hosts_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def known_hosts_line(self) -> str:
        return f"{self.known_hosts_name} {self.key_type} {self.key}"

    @property
    def text(self) -> str:
        """'<type> <base64>': how a key is stored next to its host (the database keeps it, so every
        machine that runs a worker can write the same known_hosts line)."""
        return f"{self.key_type} {self.key}"

    @classmethod
    def from_text(cls, host: str, port: int, text: str) -> HostKey | None:
        parts = text.split()
        if len(parts) < 2:
            return None
        try:
            base64.b64decode(parts[1], validate=True)
        except ValueError:
            return None
        return cls(host, port, parts[0], parts[1])


def ensure_identity(directory: Path, key_file: Path | None = None) -> SshIdentity:
    """The project's identity: `key_file` when the deployment gives one, else a key pair made once in
    `directory`. The known_hosts file always lives in `directory` (created empty)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    known_hosts = directory / "known_hosts"
    with _lock:
        if key_file is None:
            key_file = directory / KEY_NAME
            if not key_file.exists():
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", KEY_COMMENT, "-f", str(key_file)],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
        elif not key_file.exists():
            raise SshError(f"The SSH key file {key_file} does not exist; give the path of a private key.")
        public = Path(f"{key_file}.pub")
        if not public.exists():
            # A mounted secret may bring only the private half; derive the public one next to our files.
            derived = subprocess.run(
                ["ssh-keygen", "-y", "-f", str(key_file)], check=True, capture_output=True, text=True, timeout=30
            ).stdout
            public = directory / f"{key_file.name}.pub"
            public.write_text(derived)
        if not known_hosts.exists():
            known_hosts.touch(mode=0o600)
        command = _write_ssh_command(directory, key_file, known_hosts)
    return SshIdentity(key_file, public, known_hosts, command)


def _write_ssh_command(directory: Path, key_file: Path, known_hosts: Path) -> Path:
    """The wrapper libvirt runs as `ssh` (and its config) in `directory`; the wrapper's path."""
    config, command = directory / "ssh_config", directory / "ssh"
    _write_if_changed(config, _ssh_config(key_file, known_hosts), 0o600)
    _write_if_changed(command, f'#!/bin/sh\nexec ssh -F {shlex.quote(str(config))} "$@"\n', 0o700)
    return command


def _ssh_config(key_file: Path, known_hosts: Path) -> str:
    """Only our key, only our known_hosts, never a prompt, and a dead host noticed within ~15 s."""
    return "\n".join(
        [
            "Host *",
            f'  IdentityFile "{key_file}"',
            "  IdentitiesOnly yes",
            "  IdentityAgent none",
            f'  UserKnownHostsFile "{known_hosts}"',
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  UpdateHostKeys no",
            "  BatchMode yes",
            "  PasswordAuthentication no",
            "  KbdInteractiveAuthentication no",
            "  ConnectTimeout 10",
            "  ServerAliveInterval 5",
            "  ServerAliveCountMax 3",
            "  ForwardAgent no",
            "  ForwardX11 no",
            "  LogLevel ERROR",
            "",
        ]
    )


def _write_if_changed(path: Path, text: str, mode: int) -> None:
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two processes may write it at once
        tmp.write_text(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)


def valid_host(host: str) -> str:
    """`host` if it is an IP address or a plain DNS name, else SshError (it goes to ssh-keyscan)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    if not _HOST_RE.match(host):
        raise SshError(f"'{host}' is not a host name or address.")
    return host


def scan_host_key(host: str, port: int = 22, timeout: int = SCAN_TIMEOUT_S) -> HostKey:
    """The key `host` offers (ed25519 preferred), read with ssh-keyscan within `timeout` seconds."""
    host = valid_host(host)
    try:
        result = subprocess.run(
            ["ssh-keyscan", "-T", str(timeout), "-p", str(port), "-t", "ed25519,ecdsa,rsa", host],
            capture_output=True,
            text=True,
            timeout=timeout * 3 + 5,
        )
    except subprocess.TimeoutExpired as exc:
        raise SshError(f"{host}:{port} did not answer over SSH within {timeout} s.") from exc
    keys = []
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#"):
            keys.append(HostKey(host, port, parts[1], parts[2]))
    if not keys:
        raise SshError(
            f"{host}:{port} offered no SSH host key: is sshd running there and the port open? "
            f"({result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'no answer'})"
        )
    order = {"ssh-ed25519": 0, "ecdsa-sha2-nistp256": 1, "ssh-rsa": 2}
    return min(keys, key=lambda k: order.get(k.key_type, 9))


def _read_known(identity: SshIdentity) -> list[str]:
    try:
        return identity.known_hosts.read_text().splitlines()
    except FileNotFoundError:
        return []


def pinned_key(identity: SshIdentity, host: str, port: int = 22) -> HostKey | None:
    name = HostKey(host, port, "", "").known_hosts_name
    for line in _read_known(identity):
        parts = line.split()
        if len(parts) >= 3 and name in parts[0].split(","):
            return HostKey(host, port, parts[1], parts[2])
    return None


@contextmanager
def _editing_known_hosts(identity: SshIdentity) -> Iterator[list[str]]:
    """The known_hosts lines to change in place; written back atomically. Web, worker and watcher
    processes (and two test rounds) share the file: a lock file serializes them, not only threads."""
    lock_path = identity.known_hosts.with_name(identity.known_hosts.name + ".lock")
    with _lock, open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lines = _read_known(identity)
        yield lines
        fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=identity.known_hosts.parent)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + ("\n" if lines else ""))
        os.chmod(tmp, 0o600)
        os.replace(tmp, identity.known_hosts)


def _without(lines: list[str], name: str) -> None:
    lines[:] = [ln for ln in lines if not (ln.split() and name in ln.split()[0].split(","))]


def pin(identity: SshIdentity, key: HostKey) -> None:
    """Trust `key` for its host from now on, replacing what was pinned for that host before."""
    with _editing_known_hosts(identity) as lines:
        _without(lines, key.known_hosts_name)
        lines.append(key.known_hosts_line())


def forget(identity: SshIdentity, host: str, port: int = 22) -> None:
    with _editing_known_hosts(identity) as lines:
        _without(lines, HostKey(host, port, "", "").known_hosts_name)


def is_pinned(identity: SshIdentity, key: HostKey) -> bool:
    pinned = pinned_key(identity, key.host, key.port)
    return pinned is not None and pinned.text == key.text


@contextmanager
def trusting_only(identity: SshIdentity, key: HostKey) -> Iterator[SshIdentity]:
    """Our identity with a throwaway known_hosts that holds only `key`: a host can be checked with the
    key the admin is looking at before anything is pinned, and libvirt still refuses any other key."""
    with tempfile.TemporaryDirectory(prefix="kvm-known-hosts-") as tmp:
        known = Path(tmp) / "known_hosts"
        known.write_text(key.known_hosts_line() + "\n")
        command = _write_ssh_command(Path(tmp), identity.key_file, known)
        yield replace(identity, known_hosts=known, ssh_command=command)


# --- what went wrong, from libvirt's words ---------------------------------------------------------
# libvirt's SSH transports say what failed only in their messages (the codes are generic), so the
# message is matched. Kinds, from the client's side of the connection:
UNREACHABLE = "unreachable"  # no TCP connection, or no SSH handshake
UNKNOWN_HOST_KEY = "unknown-host-key"  # the host's key is in no known_hosts line we gave
HOST_KEY_CHANGED = "host-key-changed"  # the host offers another key than the pinned one
AUTH_REFUSED = "auth-refused"  # the host does not accept our key
NO_LIBVIRTD = "no-libvirtd"  # logged in, but the remote helper could not reach libvirt there
_KINDS = [
    # libssh's words, then the ssh program's (the `ssh` transport), which says "Host key verification
    # failed" for both: the changed key is told apart by its banner, so it is matched first.
    (
        HOST_KEY_CHANGED,
        ("HOST KEY VERIFICATION FAILED !!!", "differs from stored identity", "REMOTE HOST IDENTIFICATION HAS CHANGED"),
    ),
    (
        UNKNOWN_HOST_KEY,
        (
            "Can't verify the session host key",
            "was not accepted",
            "host key for server not known",
            "host key is known for",
            "Host key verification failed",
        ),
    ),
    (
        AUTH_REFUSED,
        (
            "were rejected by the server",
            "Access denied for 'publickey'",
            "failed to authenticate",
            "no authentication method succeeded",
            "Permission denied (publickey",
        ),
    ),
    (
        NO_LIBVIRTD,
        (
            "Remote command terminated with non-zero code",
            "Failed to connect socket to '/var/run/libvirt",
            "Failed to connect socket to '/run/libvirt",
            "virt-ssh-helper: command not found",
            "nc: command not found",
            # the ssh program's transport, logged in, when the remote helper exits without a word
            "End of file while reading data",
        ),
    ),
    (
        UNREACHABLE,
        (
            "unable to connect to server",
            "No route to host",
            "Connection refused",
            "Connection timed out",
            "handshake failed",
            "Network is unreachable",
            "Name or service not known",
            "Temporary failure in name resolution",
            "Socket error",
        ),
    ),
]


def failure_kind(message: str, uri: str = "", identity: SshIdentity | None = None) -> str | None:
    """Which SSH failure a libvirt message describes (one of the kinds above), or None.

    With the URI and our identity, a refused host key is told apart for sure: a host for which a key is
    pinned refused on its key means the key changed. The ssh program's words cannot always say so:
    its changed-key warning, with our known_hosts path in it, can overflow what libvirt reads of its
    stderr, and libvirt then says only "Value too large for defined data type" (seen here)."""
    found = None
    for kind, needles in _KINDS:
        if any(needle.lower() in message.lower() for needle in needles):
            found = kind
            break
    overflowed = "value too large for defined data type" in message.lower()
    target = ssh_target(uri) if uri else None
    if identity is not None and target and (found == UNKNOWN_HOST_KEY or (found is None and overflowed)):
        if pinned_key(identity, target[0], target[1]) is not None:
            return HOST_KEY_CHANGED
    return found


def ssh_target(uri: str) -> tuple[str, int, str] | None:
    """(host, port, user) of an SSH URI; None for other transports."""
    parts = urlsplit(uri)
    if parts.scheme not in SSH_SCHEMES or not parts.hostname:
        return None
    return parts.hostname, parts.port or 22, parts.username or "root"


def transport_uri(uri: str, identity: SshIdentity | None) -> str:
    """The URI libvirt opens: qemu+ssh through our ssh wrapper (our key and known_hosts), qemu+libssh2
    with our key and known_hosts unless the URI names its own; other URIs unchanged."""
    parts = urlsplit(uri)
    if identity is None or parts.scheme not in SSH_SCHEMES:
        return uri
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    scheme = parts.scheme
    if scheme == "qemu+libssh":
        scheme = "qemu+libssh2"  # libssh stalls on large replies (see the module's text)
    if scheme == "qemu+ssh":
        params["command"] = str(identity.ssh_command)
        params.setdefault("keyfile", str(identity.key_file))
        params["no_tty"] = "1"
    else:
        params.setdefault("known_hosts_verify", "normal")  # unknown or changed keys are refused
        params.setdefault("keyfile", str(identity.key_file))
        params.setdefault("known_hosts", str(identity.known_hosts))
        params.setdefault("sshauth", "privkey")
    netloc = parts.netloc
    if not parts.username:
        netloc = f"root@{netloc}"  # not the worker's own user name
    return f"{scheme}://{netloc}{parts.path}?{urlencode(params, safe='/:')}"


# --- the process's identity ------------------------------------------------------------------------
_identity: SshIdentity | None = None


def configure(identity: SshIdentity | None) -> None:
    global _identity
    _identity = identity


def identity() -> SshIdentity | None:
    return _identity
