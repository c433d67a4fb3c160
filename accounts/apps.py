from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    """How people get in: hashed API tokens, login throttling, and the audited Django admin.

    It imports live/ (Redis) and audit/ only; the apps above it (jobs, vms, portal, sandbox) may import it.
    """

    name = "accounts"
    verbose_name = _("Accounts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import signals

        signals.connect()
