"""Channel-layer group names of the people who use the product; each app names its own groups
(vms/groups.py, jobs/groups.py) so producers and consumers of one kind of message agree."""

from __future__ import annotations


def user_group(user_id: int) -> str:
    """What a user's pages show: their VMs' states, their requests (the fleet socket forwards it)."""
    return f"user.{user_id}"


def user_sockets_group(user_id: int) -> str:
    """Every open socket of a user, for control messages only ("access.changed", "session.check"):
    nothing here is forwarded to a browser, so a relay (VNC, SPICE) may join it too."""
    return f"sockets.user.{user_id}"
