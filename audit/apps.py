from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    """The append-only audit log: every app writes to it through audit.record(); it imports no app."""

    name = "audit"
    verbose_name = _("Audit log")
