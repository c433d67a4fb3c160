"""An admin edits a VM's domain XML: checked, previewed as a diff, applied by a job, kept as versions.

The path: `preview_edit` checks the edit (well-formed, the VM's own UUID and name, libvirt's schema)
and answers the diff against the saved XML; `edit_xml` checks again and queues the job
(VMChange.DOMAIN_XML, vms/runners/boot.py), which defines it with libvirt's own validation and
records the version (`record_applied`). The first edit also records the XML the VM had before it
(version 1), so there is always something to go back to; restoring a version is one more edit.
Display passwords are never shown or stored: the job carries the current ones over.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from jobs.models import Job
from vms.choices import VMChange
from vms.domainxml import DomainXMLError, ParseError, schema_issues
from vms.domainxml.edit import identity_problems, parse_edit, unified_diff
from vms.domainxml.errors import InvalidValueError
from vms.domainxml.vm import without_display_passwords
from vms.models import VirtualMachine, VMDomainVersion
from vms.services.changes import check_change, request_change
from vms.services.vm_boot import refuse_unless_admin

BEFORE_FIRST_EDIT = "before the first edit"
SHOWN_ISSUES = 5


@dataclass(frozen=True)
class Preview:
    xml: str  # the edit as it will be sent (display passwords removed)
    diff: str  # unified diff against the saved XML; empty when nothing changes
    base: str  # a digest of the saved XML the diff was made against

    @property
    def lines(self) -> list[tuple[str, str]]:
        """The diff's lines with their kind (add, remove, hunk, same), for the page to mark."""
        kinds = {"+": "add", "-": "remove", "@": "hunk"}
        return [(kinds.get(line[:1], "same"), line) for line in self.diff.splitlines()]


def digest(xml: str) -> str:
    return hashlib.sha256((xml or "").encode("utf-8")).hexdigest()[:16]


def _normalized(xml: str) -> str:
    """The saved XML written the way an edit is (lxml's serialisation), so the diff shows only changes."""
    try:
        return without_display_passwords(xml)
    except (DomainXMLError, ValueError):
        return xml or ""


def check_edit(vm: VirtualMachine, xml: str) -> str:
    """The edit, checked, without display passwords; ValidationError on `xml` saying what is wrong."""
    try:
        dom = parse_edit(xml)
    except ParseError as exc:
        raise ValidationError({"xml": _("This is not a domain XML document: %(why)s.") % {"why": exc}}) from None
    except InvalidValueError as exc:
        raise ValidationError({"xml": _("The domain XML cannot be used: %(why)s.") % {"why": exc}}) from None
    problems = identity_problems(dom, str(vm.uuid), vm.name)
    if "uuid" in problems:
        raise ValidationError(
            {"xml": _("The <uuid> must stay this VM's: %(uuid)s (another UUID is another VM).") % {"uuid": vm.uuid}}
        )
    if "name" in problems:
        raise ValidationError(
            {"xml": _("The <name> must stay '%(name)s'; rename the VM in its general settings.") % {"name": vm.name}}
        )
    try:
        issues = schema_issues(dom)
    except DomainXMLError as exc:  # pragma: no cover - a broken schema install
        raise ValidationError({"xml": str(exc)}) from None
    if issues:
        listed = "; ".join(str(issue) for issue in issues[:SHOWN_ISSUES])
        message = _("The XML does not match libvirt's domain schema: %(issues)s") % {"issues": listed}
        raise ValidationError({"xml": message})
    return without_display_passwords(dom.to_xml())


def preview_edit(user, vm: VirtualMachine, xml: str) -> Preview:  # noqa: ANN001
    """Check the edit and show what it changes, without changing anything (admins only)."""
    refuse_unless_admin(user, vm, VMChange.DOMAIN_XML, _("Only admins edit a VM's domain XML."))
    check_change(user, vm, VMChange.DOMAIN_XML)
    edited = check_edit(vm, xml)
    return Preview(edited, unified_diff(_normalized(vm.domain_xml), edited), digest(vm.domain_xml))


def edit_xml(user, vm: VirtualMachine, xml: str, base: str | None = None, note: str = "") -> Job:  # noqa: ANN001
    """Queue the edit (admins only). `base`: the digest the preview showed; when the saved XML has
    changed since, the edit is refused so nobody applies a diff they did not see."""
    refuse_unless_admin(user, vm, VMChange.DOMAIN_XML, _("Only admins edit a VM's domain XML."))
    edited = check_edit(vm, xml)
    if base is not None and base != digest(vm.domain_xml):
        raise ValidationError(
            {"xml": _("The VM's domain XML changed since this preview; look at the new differences first.")}
        )
    if not unified_diff(_normalized(vm.domain_xml), edited):
        raise ValidationError({"xml": _("The XML is the same as the saved one: there is nothing to apply.")})
    note = (note or "").strip()[:200]
    return request_change(
        user, vm, VMChange.DOMAIN_XML, {"xml": edited, "note": note}, audit={"note": note, "chars": len(edited)}
    )


def version_xml(vm: VirtualMachine, number: int) -> str:
    """A saved version's XML, with the VM's current name (a VM renamed since keeps its name)."""
    version = VMDomainVersion.objects.filter(vm=vm, version=number).first()
    if version is None:
        raise ValidationError({"version": _("This VM has no version %(n)s.") % {"n": number}})
    try:
        dom = parse_edit(version.domain_xml)
    except DomainXMLError:
        return version.domain_xml
    dom.name = vm.name
    return dom.to_xml()


def restore_version(user, vm: VirtualMachine, number: int) -> Job:  # noqa: ANN001
    refuse_unless_admin(user, vm, VMChange.DOMAIN_XML, _("Only admins edit a VM's domain XML."))
    return edit_xml(user, vm, version_xml(vm, number), note=_("Restored version %(n)s") % {"n": number})


def versions(vm: VirtualMachine) -> list[VMDomainVersion]:
    return list(VMDomainVersion.objects.filter(vm=vm).select_related("created_by").order_by("-version"))


def _add_version(vm: VirtualMachine, xml: str, user, note: str) -> VMDomainVersion:  # noqa: ANN001
    for _attempt in range(3):  # one job per VM makes a clash unlikely; a clash takes the next number
        try:
            with transaction.atomic():
                latest = VMDomainVersion.objects.filter(vm=vm).aggregate(n=Max("version"))["n"] or 0
                return VMDomainVersion.objects.create(
                    vm=vm, version=latest + 1, domain_xml=xml, note=note[:200], created_by=user
                )
        except IntegrityError:
            continue
    raise IntegrityError("could not number the VM's domain XML version")


def record_before_first_edit(vm: VirtualMachine, xml: str) -> None:
    """Version 1 is what the VM had before anyone edited it by hand (nothing to do once there is one)."""
    if not VMDomainVersion.objects.filter(vm=vm).exists():
        _add_version(vm, without_display_passwords(xml), None, BEFORE_FIRST_EDIT)


def record_applied(vm: VirtualMachine, xml: str, user, note: str) -> VMDomainVersion:  # noqa: ANN001
    """The XML the host saved after an edit, as the next version."""
    return _add_version(vm, without_display_passwords(xml), user, note)
