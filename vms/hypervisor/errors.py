"""libvirt errors turned into sentences a person can act on."""

from __future__ import annotations

import libvirt

from vms.hypervisor.ssh import failure_kind
from vms.hypervisor.ssh import identity as ssh_identity


class HypervisorError(RuntimeError):
    """A libvirt operation failed. `str()` names what failed and where, with the host's message."""

    def __init__(self, action: str, where: str, host_message: str = "", code: int | None = None) -> None:
        self.action = action
        self.where = where
        self.host_message = host_message
        self.code = code
        text = f"Could not {action}"
        if where:
            text += f" on {where}"
        if host_message:
            text += f": {host_message}"
        super().__init__(text)


class HostUnreachable(HypervisorError):
    """The host did not answer at all; retrying later may help."""

    uri = ""  # set when connecting failed: the URI as the admin wrote it

    @property
    def ssh_failure(self) -> str | None:
        """The SSH failure libvirt's message describes while connecting (vms/hypervisor/ssh.py), or None."""
        return failure_kind(self.host_message, self.uri, ssh_identity())


# Errors that say the connection or the daemon went away: worth a retry.
TRANSIENT_CODES = {
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_INVALID_CONN,
    libvirt.VIR_ERR_OPERATION_TIMEOUT,
    libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
}


# SSH failures that only a person can fix (a key to add or to confirm): retrying would only wait.
_NEEDS_A_PERSON = {"unknown-host-key", "host-key-changed", "auth-refused"}


def is_transient(error: HypervisorError) -> bool:
    if isinstance(error, HostUnreachable) and error.ssh_failure in _NEEDS_A_PERSON:
        return False
    return isinstance(error, HostUnreachable) or error.code in TRANSIENT_CODES


def wrap(exc: libvirt.libvirtError, action: str, where: str) -> HypervisorError:
    code = exc.get_error_code()
    message = exc.get_error_message() or str(exc)
    cls = HostUnreachable if code in (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_SYSTEM_ERROR) else HypervisorError
    return cls(action, where, message, code)


def _silence_default_handler() -> None:
    # libvirt prints every error to stderr by default; we report them ourselves.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


_silence_default_handler()
