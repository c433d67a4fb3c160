"""`manage.py api_token USERNAME`: print (creating if needed) that user's API token."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = _("Print the API token of a user, creating it if needed.")

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(_("No user named '%(name)s'.") % {"name": username})
        token, _created = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
