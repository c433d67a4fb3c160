"""Channel-layer group names of the people who use the product; each app names its own groups
(vms/groups.py, jobs/groups.py) so producers and consumers of one kind of message agree."""

from __future__ import annotations


def user_group(user_id: int) -> str:
    return f"user.{user_id}"
