"""Portal settings: Django settings first (PORTAL_*), then the environment, then safe defaults."""

from __future__ import annotations

import os

from django.conf import settings

from dashboard.env import env_int, env_str
from portal.choices import ApprovalMode

QUOTA_FIELDS = ("max_vms", "max_vcpus", "max_memory_mib", "max_disk_gib")


def default_quota() -> dict[str, int]:
    """What a user may hold without a quota row of their own (requests waiting count too)."""
    configured = getattr(settings, "PORTAL_DEFAULT_QUOTA", None)
    if configured:
        return {field: int(configured[field]) for field in QUOTA_FIELDS}
    return {
        "max_vms": env_int("PORTAL_DEFAULT_QUOTA_VMS", 5),
        "max_vcpus": env_int("PORTAL_DEFAULT_QUOTA_VCPUS", 8),
        "max_memory_mib": env_int("PORTAL_DEFAULT_QUOTA_MEMORY_MIB", 8192),
        "max_disk_gib": env_int("PORTAL_DEFAULT_QUOTA_DISK_GIB", 100),
    }


def default_approval() -> str:
    """For templates without a policy: an admin decides unless told otherwise."""
    value = getattr(settings, "PORTAL_DEFAULT_APPROVAL", None) or env_str("PORTAL_DEFAULT_APPROVAL", "manual")
    return value if value in ApprovalMode.values else ApprovalMode.MANUAL


def email_enabled() -> bool:
    """E-mail only when someone configured it; never the console backend by surprise."""
    explicit = getattr(settings, "PORTAL_EMAIL_NOTIFICATIONS", None)
    if explicit is not None:
        return bool(explicit)
    return bool(os.environ.get("EMAIL_HOST"))
