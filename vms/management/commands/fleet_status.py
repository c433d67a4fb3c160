"""`manage.py fleet_status`: which watcher holds which host, and which queues each worker serves."""

from celery import current_app as app  # the project's app (dashboard/celery.py), set up at start
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from vms.models import Host
from vms.watcher.leases import lease_holder


class Command(BaseCommand):
    help = _("Show which watcher holds each host and the queues of every running worker.")

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=2.0, help=_("Seconds to wait for workers to answer."))

    def handle(self, *args, timeout: float, **options):
        self.stdout.write(_("Hosts and their watchers:"))
        for host in Host.objects.all():
            holder = lease_holder(host.pk) or _("nobody (no watcher is running, or it is taking over)")
            state = _("online") if host.online else _("offline")
            self.stdout.write(f"  {host.name:<20} {state:<8} {holder}")
        self.stdout.write(_("Workers and their queues:"))
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
        if not replies:
            self.stdout.write("  " + _("no worker answered within %(s)s s") % {"s": timeout})
        for worker, queues in sorted(replies.items()):
            self.stdout.write(f"  {worker:<40} {', '.join(q['name'] for q in queues)}")
