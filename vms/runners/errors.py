"""libvirt trouble as job outcomes, shared by the VM and image runners."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import libvirt

from jobs.errors import JobFailed, RetryableError
from vms.hypervisor.errors import HostUnreachable, HypervisorError, is_transient, wrap
from vms.services.ssh_trust import explain


@contextmanager
def host_errors(action: str = "finish the job", where: str = "the host") -> Iterator[None]:
    """A dropped connection retries; anything else fails with words and the host's own message."""
    try:
        yield
    except libvirt.libvirtError as exc:  # a call our hypervisor layer did not wrap
        exc = wrap(exc, action, where)
        raise (RetryableError if is_transient(exc) else JobFailed)(str(exc), host_message=exc.host_message) from exc
    except HypervisorError as exc:
        # An SSH failure to connect is said as its cause and fix (a key to add or confirm, sshd or
        # libvirtd down); libvirt's own words stay in host_message.
        message = explain(exc, exc.uri) if isinstance(exc, HostUnreachable) and exc.uri else str(exc)
        if is_transient(exc):
            raise RetryableError(message, host_message=exc.host_message) from exc
        raise JobFailed(message, host_message=exc.host_message) from exc
