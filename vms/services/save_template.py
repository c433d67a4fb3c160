"""Save a VM as a template (admins; docs/save-as-template.md).

A stopped VM's system disk (its first disk) becomes a base image in the image library, copied with
progress and checked like an upload, and a new template is made from the VM's domain XML with the
per-instance parts stripped (vms.services.templates.import_template), its disk an overlay on that
image. The image and the template share the name given. The job (`vm.save-as-template`,
vms/runners/save_template.py) is a change of the VM: nothing starts it while its disk is copied.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from jobs.models import Job
from vms.choices import VMChange
from vms.domainxml.clone import copied_disks
from vms.domainxml.errors import DomainXMLError
from vms.models import VirtualMachine
from vms.permissions import is_admin
from vms.services.changes import request_change
from vms.services.images import check_image_name
from vms.services.templates import check_template_name


def check_names(name: object) -> str:
    """The name is free for both a template and an image (ValidationError on 'name')."""
    name = check_template_name(name)
    check_image_name(name)
    return name


def save_as_template(user, vm: VirtualMachine, name: object) -> Job:
    if not is_admin(user):
        raise PermissionDenied(_("Only an admin may save a VM as a template."))
    try:
        disks = copied_disks(vm.domain_xml)
    except (DomainXMLError, ValueError) as exc:
        raise ValidationError({"vm": _("This VM cannot be saved as a template: %(why)s.") % {"why": exc}}) from None
    if not disks:
        raise ValidationError({"vm": _("This VM has no disk to make a base image of.")})
    name = check_names(name)
    return request_change(user, vm, VMChange.SAVE_AS_TEMPLATE, {"name": name})
