"""API tokens, stored hashed: the secret is shown once, when the token is made, and never kept."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TokenState(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("API token state", "Active")
    EXPIRED = "expired", pgettext_lazy("API token state", "Expired")
    REVOKED = "revoked", pgettext_lazy("API token state", "Revoked")


class ApiToken(models.Model):
    """One API token of one user: `Authorization: Token <key>`; only sha256(key) is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    # The first characters of the key, to tell tokens apart in a list (not enough to use one).
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    def state_at(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return TokenState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return TokenState.EXPIRED
        return TokenState.ACTIVE

    @property
    def state(self) -> str:
        return self.state_at()
