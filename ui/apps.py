from django.apps import AppConfig


class UiConfig(AppConfig):
    """Shared page components: template tags and filters for times, sizes and counts, used by every page."""

    name = "ui"
    verbose_name = "Page components"
