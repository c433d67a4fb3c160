"""A byte stream to a port on a host, through that host's own SSH server (a direct-tcpip channel).

No Django here. A VM's display on a host reached over SSH listens on the host's loopback, where only
the host itself can connect; the console relay asks the host's sshd to connect for it, exactly as
`ssh -L` would. The destination is evaluated on the host: 127.0.0.1 there is the host's loopback,
never the web server's.

The host key is checked against the project's known_hosts (the same file libvirt uses): an unknown
or changed key is refused, never accepted. No password prompt can hang: public key only, with a
connect timeout.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass

import asyncssh

from vms.hypervisor.ssh import SshIdentity, ssh_target

CONNECT_TIMEOUT_S = 5.0
# What reading or writing a stream may raise when its host or display goes away, tunnel or not.
STREAM_ERRORS = (ConnectionError, OSError, asyncssh.Error)


class TunnelError(ConnectionError):
    """The host could not be reached through SSH; `str()` is a sentence for the admin's log and page."""


@dataclass
class Tunnel:
    reader: asyncssh.SSHReader
    writer: asyncssh.SSHWriter
    connection: asyncssh.SSHClientConnection

    async def close(self) -> None:
        self.writer.close()
        self.connection.close()
        try:
            await asyncio.wait_for(self.connection.wait_closed(), CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError, asyncssh.Error):
            pass


async def _connect(uri: str, identity: SshIdentity, timeout: float) -> asyncssh.SSHClientConnection:
    target = ssh_target(uri)
    if target is None:
        raise TunnelError(f"{uri} is not reached over SSH")
    host, ssh_port, user = target
    try:
        return await asyncio.wait_for(
            asyncssh.connect(
                host,
                ssh_port,
                username=user,
                client_keys=[str(identity.key_file)],
                known_hosts=str(identity.known_hosts),
                agent_path=None,
                config=[],  # not root's ~/.ssh/config: the project's settings only
                password=None,
                kbdint_auth=False,
                login_timeout=timeout,
            ),
            timeout,
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise TunnelError(
            f"the SSH host key of {host} is not the one pinned for it (or none is pinned): {exc.reason}"
        ) from exc
    except asyncssh.PermissionDenied as exc:
        raise TunnelError(f"{host} refused the project's SSH key: {exc.reason}") from exc
    except (OSError, TimeoutError, asyncssh.Error) as exc:
        raise TunnelError(f"cannot reach {host}:{ssh_port} over SSH: {exc}") from exc


async def open_tunnel(
    uri: str, identity: SshIdentity, address: str, port: int, timeout: float = CONNECT_TIMEOUT_S
) -> Tunnel:
    """A stream to `address:port` as seen from the host of the SSH URI `uri`."""
    connection = await _connect(uri, identity, timeout)
    host = (ssh_target(uri) or (uri,))[0]
    try:
        reader, writer = await asyncio.wait_for(connection.open_connection(address, port), timeout)
    except (OSError, TimeoutError, asyncssh.Error) as exc:
        connection.close()
        raise TunnelError(f"{host} could not connect to {address}:{port} for us: {exc}") from exc
    return Tunnel(reader, writer, connection)


async def run_fixed(uri: str, identity: SshIdentity, argv: tuple[str, ...], timeout: float = CONNECT_TIMEOUT_S) -> str:
    """The output of a command the project fixed (a constant, never built from anyone's input) run on
    the host of the SSH URI `uri`; SSH hands the server one string, so it is quoted word by word."""
    connection = await _connect(uri, identity, timeout)
    try:
        result = await asyncio.wait_for(connection.run(shlex.join(argv), check=False), timeout)
    except (OSError, TimeoutError, asyncssh.Error) as exc:
        raise TunnelError(f"'{argv[0]}' on {uri} did not answer: {exc}") from exc
    finally:
        connection.close()
    if result.exit_status != 0:
        raise TunnelError(f"'{argv[0]}' on {uri} failed: {str(result.stderr or '').strip()[:200]}")
    return str(result.stdout or "")
