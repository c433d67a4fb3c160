"""Sharing a VM with another user, to view it or to operate it (never to delete or re-share it)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit import log as audit_log
from vms.choices import ShareLevel
from vms.models import VirtualMachine, VMShare
from vms.permissions import can_share_vm, is_admin


def share_vm(actor, vm: VirtualMachine, username: str, level: str) -> VMShare:
    if not can_share_vm(actor, vm):
        raise PermissionDenied(_("Only the owner or an admin may share this VM."))
    if level not in ShareLevel.values:
        raise ValidationError({"level": _("Choose view or operate.")})
    user = get_user_model().objects.filter(username=(username or "").strip()).first()
    if user is None or not user.is_active or user.pk == vm.owner_id:
        # One answer for "no such user", "disabled" and "the owner": whoever may not list users learns
        # nothing about which usernames exist. Admins (who may list them) are told which it is.
        if not is_admin(actor):
            raise ValidationError({"username": _("No active user can receive this share: check the username.")})
        if user is None or not user.is_active:
            raise ValidationError({"username": _("No active user is called '%(name)s'.") % {"name": username}})
        raise ValidationError({"username": _("That user owns this VM already.")})
    with transaction.atomic():
        share, _created = VMShare.objects.update_or_create(
            vm=vm, user=user, defaults={"level": level, "created_by": actor}
        )
        audit_log.record(actor, "vm.share", vm, user=user.get_username(), level=level)
    return share


def unshare_vm(actor, share: VMShare) -> None:
    if not can_share_vm(actor, share.vm):
        raise PermissionDenied(_("Only the owner or an admin may change who shares this VM."))
    with transaction.atomic():
        audit_log.record(actor, "vm.unshare", share.vm, user=share.user.get_username())
        share.delete()
