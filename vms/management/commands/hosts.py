"""`manage.py hosts add NAME URI | check NAME | list` for scripting."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from audit import log as audit_log
from vms.choices import Emulation
from vms.models import Host
from vms.services.hosts import add_host, check_host


def _one_line(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)


class Command(BaseCommand):
    help = _("Add, check and list KVM hosts.")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help=_("Register a host by libvirt URI."))
        add.add_argument("name")
        add.add_argument("uri")
        add.add_argument("--disabled", action="store_true")
        add.add_argument("--max-jobs", type=int, default=4)
        add.add_argument("--offline", action="store_true", help=_("Register even if the host does not answer now."))
        add.add_argument("--emulation", choices=[c.value for c in Emulation], default=Emulation.AUTO)
        add.add_argument(
            "--ssh-fingerprint",
            default="",
            help=_("SSH hosts: the host key fingerprint (SHA256:...) you compared with the host's own, to pin it."),
        )
        check = sub.add_parser("check", help=_("Test the connection to a host and store what it offers."))
        check.add_argument("name")
        sub.add_parser("list", help=_("List hosts."))

    def handle(self, *args, action, **opts):
        with audit_log.context(via=f"manage.py hosts {action}"):  # the services record; this names the door
            self._handle(action, **opts)

    def _handle(self, action, **opts):
        if action == "add":
            try:
                host = add_host(
                    opts["name"],
                    opts["uri"],
                    enabled=not opts["disabled"],
                    max_concurrent_jobs=opts["max_jobs"],
                    emulation=opts["emulation"],
                    require_reachable=not opts["offline"],
                    ssh_fingerprint=opts["ssh_fingerprint"],
                )
            except ValidationError as exc:
                raise CommandError(_("Host not added: %(reason)s") % {"reason": _one_line(exc)}) from exc
            self.stdout.write(_("Added host %(name)s (%(uri)s).") % {"name": host.name, "uri": host.display_uri})
        elif action == "check":
            host = Host.objects.filter(name=opts["name"]).first()
            if host is None:
                raise CommandError(_("No host named '%(name)s'; see 'manage.py hosts list'.") % {"name": opts["name"]})
            self._check(host)
        else:
            for host in Host.objects.all():
                state = _("online") if host.online else _("offline")
                enabled = "" if host.enabled else _(" (disabled)")
                self.stdout.write(f"{host.name}\t{host.display_uri}\t{state}{enabled}")

    def _check(self, host: Host) -> None:
        result = check_host(host)
        if not result.reachable:
            raise CommandError(result.error)
        for line in result.lines:
            self.stdout.write(line)
