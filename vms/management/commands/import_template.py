"""`manage.py import_template FILE|- --name NAME`: a template from a domain XML (e.g. `virsh dumpxml`).

Per-VM parts (name, UUID, MACs, disk paths, device addresses) are removed; everything else is kept.
Bad input exits 2 with one line and creates nothing.
"""

from __future__ import annotations

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from audit import log as audit_log
from vms.services.templates import import_template


def _one_line(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        text = "; ".join(" ".join(msgs) for msgs in exc.message_dict.values())
    else:
        text = " ".join(exc.messages)
    return " ".join(text.split())


class Command(BaseCommand):
    help = _("Create a VM template from a libvirt domain XML file (per-VM parts are removed).")

    def add_arguments(self, parser):
        parser.add_argument("file", help=_("Domain XML file, or - for standard input."))
        parser.add_argument("--name", required=True, help=_("Name of the new template."))
        parser.add_argument("--description", default="", help=_("What the template is for."))

    def handle(self, *args, file: str, name: str, description: str, **options):
        try:
            data = sys.stdin.buffer.read() if file == "-" else open(file, "rb").read()  # noqa: SIM115
        except OSError as exc:
            raise CommandError(
                _("Cannot read %(file)s: %(reason)s") % {"file": file, "reason": exc.strerror}, returncode=2
            ) from None
        try:
            with audit_log.context(via="manage.py import_template"):  # the service records it
                template = import_template(name, data, None, description=description)
        except ValidationError as exc:
            raise CommandError(
                _("Template not imported: %(reason)s") % {"reason": _one_line(exc)}, returncode=2
            ) from None
        for note in template.import_notes:
            self.stderr.write(note)
        self.stdout.write(
            _("Imported template '%(name)s' (id %(id)d, version %(v)d).")
            % {"name": template.name, "id": template.pk, "v": template.version}
        )
