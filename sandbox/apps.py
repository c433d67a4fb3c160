from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SandboxConfig(AppConfig):
    """Development only: the sandbox fleet, the demo guest and the demo data. Production code never
    imports this app; a deployment leaves it out with SANDBOX_ENABLED=false."""

    name = "sandbox"
    verbose_name = _("Sandbox fleet")
