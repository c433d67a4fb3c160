"""`manage.py domainxml FILE|- [--set FIELD=VALUE ...] [--adapt-to URI] [--validate]`.

Thin wrapper over vms.domainxml: read, change, adapt, validate, print. The XML goes to stdout,
adjustments to stderr; bad input exits 2 with one line and nothing on stdout. When the URI is a
registered host's, the domain is adapted to that host's emulation choice, as VMs and previews are.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from vms.domainxml import Domain, DomainXMLError, parse_assignment, set_field, settable_fields
from vms.domainxml import validate as validate_xml


class Command(BaseCommand):
    # Works on files and libvirt; the database is only asked which emulation a registered host uses.
    requires_system_checks = []
    help = _(
        "Parse a libvirt domain XML file, optionally change fields, adapt it to a host and "
        "validate it; print the result."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help=_("Domain XML file, or - for standard input."))
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            dest="assignments",
            help=_("Change a field (repeatable). Fields: %(fields)s.") % {"fields": ", ".join(settable_fields())},
        )
        parser.add_argument("--adapt-to", metavar="URI", help=_("Adapt the domain to the libvirt host at URI."))
        parser.add_argument(
            "--virt-type",
            choices=["kvm", "qemu"],
            help=_(
                "With --adapt-to: use this domain type only (e.g. qemu where KVM is unusable). Default: the "
                "virtualization setting of the host registered with this URI, else kvm or qemu as the host offers."
            ),
        )
        parser.add_argument(
            "--validate", action="store_true", help=_("Check the result against libvirt's RelaxNG schema.")
        )

    def handle(
        self,
        *args,
        file: str,
        assignments: list[str],
        adapt_to: str | None,
        virt_type: str | None,
        validate: bool,
        **options,
    ):
        data = self._read(file)
        try:
            domain = Domain.from_xml(data)
            for assignment in assignments:
                set_field(domain, *parse_assignment(assignment))
            xml, adjustments = domain.to_xml(), []
            if adapt_to:
                result = self._adapt(domain, adapt_to, virt_type)
                xml, adjustments = result.xml, result.adjustments
            if validate:
                validate_xml(xml)
        except DomainXMLError as exc:
            raise CommandError(_("Invalid domain XML: %(reason)s") % {"reason": _one_line(exc)}, returncode=2) from None
        for line in adjustments:
            self.stderr.write(line)
        self.stdout.write(xml.rstrip("\n"))

    def _read(self, file: str) -> bytes:
        try:
            if file == "-":
                return sys.stdin.buffer.read()
            with open(file, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise CommandError(
                _("Cannot read %(file)s: %(reason)s") % {"file": file, "reason": exc.strerror}, returncode=2
            ) from None

    def _adapt(self, domain: Domain, uri: str, virt_type: str | None):
        import libvirt

        from vms.domainxml.hostcaps import adapt_to_uri, quiet_libvirt_errors

        quiet_libvirt_errors()  # failures we care about come back as exceptions
        try:
            return adapt_to_uri(domain, uri, virt_types=(virt_type,) if virt_type else _registered_virt_types(uri))
        except libvirt.libvirtError as exc:
            raise CommandError(
                _("Cannot read the capabilities of %(uri)s: %(reason)s") % {"uri": uri, "reason": _one_line(exc)},
                returncode=1,
            ) from None


def _registered_virt_types(uri: str) -> tuple[str, ...]:
    """The domain types the product adapts to on the host registered with this URI (its emulation choice).

    A URI that is not registered, or no database to ask, allows both kvm and qemu (whichever the host offers).
    """
    from django.db import DatabaseError

    from vms.models import Host

    try:
        host = Host.objects.filter(uri=uri.strip()).first()
    except DatabaseError:
        host = None
    return host.virt_types if host is not None else ("kvm", "qemu")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
