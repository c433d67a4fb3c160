"""libvirt trouble as job outcomes, shared by the VM and image runners."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import libvirt

from jobs.errors import JobFailed, RetryableError
from vms.hypervisor.errors import HypervisorError, is_transient, wrap


@contextmanager
def host_errors(action: str = "finish the job", where: str = "the host") -> Iterator[None]:
    """A dropped connection retries; anything else fails with words and the host's own message."""
    try:
        yield
    except libvirt.libvirtError as exc:  # a call our hypervisor layer did not wrap
        exc = wrap(exc, action, where)
        raise (RetryableError if is_transient(exc) else JobFailed)(str(exc), host_message=exc.host_message) from exc
    except HypervisorError as exc:
        if is_transient(exc):
            raise RetryableError(str(exc), host_message=exc.host_message) from exc
        raise JobFailed(str(exc), host_message=exc.host_message) from exc
