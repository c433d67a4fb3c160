from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Self-service portal")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The portal extends the VM pages and API (vms never imports the portal): see vms/extensions.py.
        from portal import extend_vms

        extend_vms.register()
