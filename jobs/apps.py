import os
from importlib import import_module

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = _("Jobs")

    def ready(self) -> None:
        # Runners register themselves on import: every app's `runners` module or package (vms/runners/), plus
        # modules named in JOBS_EXTRA_RUNNER_MODULES (comma-separated), which lets tests hand a real
        # worker their own runners without the project importing test code.
        autodiscover_modules("runners")
        extra = os.environ.get("JOBS_EXTRA_RUNNER_MODULES", "")
        for module in (name.strip() for name in extra.split(",")):
            if module:
                import_module(module)
