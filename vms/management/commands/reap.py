"""`manage.py reap [--grace S] [--dry-run]`: report and remove orphaned domains and volumes."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from vms.services.reaper import DEFAULT_GRACE, reap


class Command(BaseCommand):
    help = _("Find domains and volumes we made that no VM owns; remove them after a grace period.")

    def add_arguments(self, parser):
        parser.add_argument("--grace", type=float, default=DEFAULT_GRACE, help=_("Seconds to wait before removing."))
        parser.add_argument("--dry-run", action="store_true", help=_("Only report."))

    def handle(self, *args, grace: float, dry_run: bool, **options):
        orphans = reap(grace=grace, dry_run=dry_run)
        for orphan in orphans:
            self.stdout.write(orphan.line())
        if not orphans:
            self.stdout.write(_("Nothing orphaned."))
