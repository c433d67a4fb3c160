from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LiveConfig(AppConfig):
    """Channel-layer plumbing every app builds on: broadcast after commit, session sockets, Redis clients."""

    name = "live"
    verbose_name = _("Live updates")

    def ready(self) -> None:
        # Connects the logout receiver that closes a user's open websockets.
        from live import sockets  # noqa: F401
