"""`manage.py api_token USERNAME [--name N] [--expires-days D]`: make a new API token for that user and
print its key (on one line, nothing else: scripts read it). The key is stored hashed, so it cannot be
printed again later: run the command again for another token, and revoke old ones
(DELETE /api/v1/me/tokens/{id}/, or the Django admin)."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts import tokens
from audit import log as audit_log


class Command(BaseCommand):
    help = _("Make a new API token for a user and print its key (shown this once).")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help=_("What the token is for (default: 'API token')."))
        parser.add_argument(
            "--expires-days", type=int, default=None, help=_("Days until the token expires (default: never).")
        )

    def handle(self, *args, username: str, name: str, expires_days: int | None, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(_("No user named '%(name)s'.") % {"name": username})
        try:
            with audit_log.context(via="manage.py api_token"):
                issued = tokens.issue(user, name, expires_days)
        except ValidationError as exc:
            raise CommandError(" ".join(m for msgs in exc.message_dict.values() for m in msgs)) from None
        self.stdout.write(issued.key)
