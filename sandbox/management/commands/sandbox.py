"""`manage.py sandbox up|status|down`: real libvirtd hosts on this machine for demos and tests."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from sandbox.demo_guest import DemoGuestError, build_demo_guest
from sandbox.fleet import SandboxError, SandboxFleet
from sandbox.install import DEMO_INSTALLER_VOLUME, demo_guest_volumes
from sandbox.installer_iso import build_installer_iso
from vms.hypervisor.errors import HypervisorError


class Command(BaseCommand):
    help = _("Run a sandbox fleet of real libvirtd hosts on this machine.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["up", "status", "running", "down"])
        parser.add_argument("--hosts", type=int, default=3, help=_("How many hosts 'up' starts (default 3)."))
        parser.add_argument("--no-demo-guest", action="store_true", help=_("Do not install the demo guest."))

    def handle(self, *args, action: str, hosts: int, no_demo_guest: bool, **options):
        fleet = SandboxFleet(settings.SANDBOX_DIR, report=self.stdout.write, first_index=settings.SANDBOX_FIRST_INDEX)
        try:
            if action == "up":
                files = {}
                if not no_demo_guest:
                    self.stdout.write(_("Building the demo guest (cached after the first time)..."))
                    files = demo_guest_volumes(build_demo_guest(settings.DEMO_GUEST_DIR))
                    # The installer of "Install from ISO (demo)", in every host's pool like the demo guest.
                    self.stdout.write(_("Building the demo installer ISO (cached after the first time)..."))
                    iso = build_installer_iso(settings.VAR_DIR / "demo-installer", settings.DEMO_GUEST_DIR)
                    if iso.build_seconds:
                        self.stdout.write(_("Built the demo installer ISO in %(s).1f s.") % {"s": iso.build_seconds})
                    files[DEMO_INSTALLER_VOLUME] = iso.path
                for status in fleet.up(hosts, files):
                    self.stdout.write(status.line())
            elif action == "status":
                statuses = fleet.status()
                if not statuses:
                    self.stdout.write(_("No sandbox hosts; start them with 'manage.py sandbox up'."))
                for status in statuses:
                    self.stdout.write(status.line())
                    # The same host for virsh and any other libvirt client on this machine, as is.
                    self.stdout.write(f"  virsh -c '{fleet.virsh_uri(status.host)}'")
                if any(not s.answers for s in statuses):
                    raise CommandError(_("Some sandbox hosts do not answer."), returncode=1)
            elif action == "running":
                # For scripts (make test): exit 0 when any process of this checkout's fleet is alive.
                if not fleet.running():
                    raise CommandError(_("No sandbox host of this checkout is running."), returncode=1)
                self.stdout.write(_("The sandbox fleet of this checkout is running."))
            else:
                lines = fleet.down()
                for line in lines:
                    self.stdout.write(line)
                if not lines:
                    self.stdout.write(_("No sandbox process was running."))
        except (SandboxError, DemoGuestError, HypervisorError) as exc:
            raise CommandError(str(exc)) from exc
