"""The audit log's one model. Append-only: rows are added, never changed or deleted (see AuditEntry)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from audit.choices import AuditResult

# The one column a change elsewhere may write: deleting a user sets `actor` to NULL (the name stays).
_MAY_CHANGE = {"actor", "actor_id"}


class AppendOnly(PermissionDenied):
    """Someone tried to change or delete an audit entry."""


class AuditEntryQuerySet(models.QuerySet):
    def delete(self):
        raise AppendOnly(_("The audit log is append-only: entries cannot be deleted."))

    def update(self, **kwargs):
        if set(kwargs) - _MAY_CHANGE:
            raise AppendOnly(_("The audit log is append-only: entries cannot be changed."))
        return super().update(**kwargs)


class AuditEntry(models.Model):
    """Who did what to which object, when, and how it ended. Append-only."""

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept beside the key: the log must still say who it was after the account is gone.
    actor_name = models.CharField(_("actor name"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=32, blank=True)
    object_id = models.CharField(_("object ID"), max_length=64, blank=True)
    object_name = models.CharField(_("object name"), max_length=200, blank=True)
    result = models.CharField(_("result"), max_length=8, choices=AuditResult.choices, default=AuditResult.OK)
    details = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        db_table = "portal_auditentry"  # made by the portal app before the log had a room of its own
        ordering = ["-at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = [
            models.Index(fields=["actor", "-at"], name="audit_actor_recent"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly(_("The audit log is append-only: entries cannot be changed."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly(_("The audit log is append-only: entries cannot be deleted."))
