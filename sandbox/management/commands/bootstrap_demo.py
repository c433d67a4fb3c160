"""`manage.py bootstrap_demo`: admin login, sandbox hosts, the demo installer ISO and the demo templates for
`make run`."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from sandbox import bootstrap
from sandbox.fleet import SandboxFleet


class Command(BaseCommand):
    help = _("Create the admin login, register the sandbox hosts, the demo installer ISO and the demo templates.")

    def add_arguments(self, parser):
        parser.add_argument("--hosts", type=int, default=3)

    def handle(self, *args, hosts: int, **options):
        login = bootstrap.ensure_admin(settings.VAR_DIR / "admin-password")
        fleet = SandboxFleet(settings.SANDBOX_DIR, first_index=settings.SANDBOX_FIRST_INDEX)
        registered = bootstrap.register_sandbox_hosts(fleet.hosts(hosts))
        bootstrap.check_all(registered)
        bootstrap.ensure_installer_image(registered)
        templates = [
            bootstrap.ensure_demo_template(),
            bootstrap.ensure_screen_template(),
            bootstrap.ensure_lab_template(),
            bootstrap.ensure_install_template(),
        ]
        self.stdout.write(_("Hosts: %(names)s") % {"names": ", ".join(h.name for h in registered)})
        self.stdout.write(_("Templates: %(names)s") % {"names": ", ".join(t.name for t in templates)})
        self.stdout.write(
            self.style.SUCCESS(
                _("Admin login: %(user)s / %(password)s") % {"user": login.username, "password": login.password}
            )
        )
