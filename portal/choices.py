"""Request states, approval modes, roles and share levels: data, not string literals elsewhere."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RequestState(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    PROVISIONED = "provisioned", _("VM created")
    FAILED = "failed", _("Failed")


# Which states each state may move to; services apply them with a conditional UPDATE.
REQUEST_TRANSITIONS: dict[str, set[str]] = {
    RequestState.PENDING: {RequestState.APPROVED, RequestState.REJECTED, RequestState.CANCELLED, RequestState.FAILED},
    RequestState.APPROVED: {RequestState.PROVISIONED, RequestState.FAILED},
    RequestState.REJECTED: set(),
    RequestState.CANCELLED: set(),
    RequestState.PROVISIONED: set(),
    RequestState.FAILED: set(),
}

# Requests in these states hold quota (a provisioned request holds it through its VM instead).
HOLDING_QUOTA = [RequestState.PENDING, RequestState.APPROVED]
OPEN_STATES = HOLDING_QUOTA


class ApprovalMode(models.TextChoices):
    AUTO = "auto", _("Approve automatically within quota")
    MANUAL = "manual", _("An admin approves each request")
