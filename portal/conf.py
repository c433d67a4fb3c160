"""Portal settings, read through django.conf.settings (dashboard/settings.py fills them from the environment)."""

from __future__ import annotations

from django.conf import settings

from portal.choices import ApprovalMode

QUOTA_FIELDS = ("max_vms", "max_vcpus", "max_memory_mib", "max_disk_gib")


def default_quota() -> dict[str, int]:
    """What a user may hold without a quota row of their own (requests waiting count too)."""
    return {field: int(settings.PORTAL_DEFAULT_QUOTA[field]) for field in QUOTA_FIELDS}


def default_approval() -> str:
    """For templates without a policy: an admin decides unless told otherwise."""
    value = settings.PORTAL_DEFAULT_APPROVAL
    return value if value in ApprovalMode.values else ApprovalMode.MANUAL


def email_enabled() -> bool:
    return bool(settings.PORTAL_EMAIL_NOTIFICATIONS)
