"""Taking back what a failed step defined on a host. No Django."""

from __future__ import annotations

import libvirt


def destroy_and_undefine(obj: libvirt.virNetwork | libvirt.virStoragePool) -> None:
    """Stop and undefine a network or pool that was defined a moment ago but could not be started.
    Quiet: the first error is the one to report; what is left shows on the next host check."""
    try:
        if obj.isActive():
            obj.destroy()
        obj.undefine()
    except libvirt.libvirtError:
        pass
