from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VmsConfig(AppConfig):
    name = "vms"
    verbose_name = _("Virtual machines")

    def ready(self) -> None:
        # Connects the logout receiver that closes a user's open websockets.
        from dashboard import sockets  # noqa: F401
