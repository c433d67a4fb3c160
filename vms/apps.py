from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VmsConfig(AppConfig):
    name = "vms"
    verbose_name = _("Virtual machines")

    def ready(self) -> None:
        # Connects the receivers that tell a user's open sockets when a share or owner changes.
        from vms import access_changes  # noqa: F401
        from vms.services.ssh_identity import configure_from_settings

        configure_from_settings()
