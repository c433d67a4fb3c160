"""Who may see or operate a VM changed: tell the affected users' open sockets (live/access.py), which
re-check their rights at once and close (or, a console, stop taking input).

Connected in VmsConfig.ready(). Covers every door that saves or deletes through the ORM (services,
the Django admin, cascades): a share made, lowered, raised or removed, a VM given another owner.
Django's own auth changes (operators group, admin status, password, deactivation) are in live/access.py.
Changes made with QuerySet.update() send no signal; the console's input path re-checks on its own
every few seconds (vms/consumers/vm.py) for those.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from live.access import notify_access_changed
from vms.models import VirtualMachine, VMShare


@receiver(pre_save, sender=VMShare, dispatch_uid="vms.access_changes.share_pre_save")
def _remember_share_user(sender, instance: VMShare, raw=False, **kwargs) -> None:
    # A share moved to another user (the admin allows it) takes the right from the first one.
    instance.__dict__["_access_previous_user"] = (
        None
        if raw or instance._state.adding
        else VMShare.objects.filter(pk=instance.pk).values_list("user_id", flat=True).first()
    )


@receiver(post_save, sender=VMShare, dispatch_uid="vms.access_changes.share_saved")
def _share_saved(sender, instance: VMShare, raw=False, **kwargs) -> None:
    if raw:
        return
    notify_access_changed([instance.user_id, instance.__dict__.pop("_access_previous_user", None)])


@receiver(post_delete, sender=VMShare, dispatch_uid="vms.access_changes.share_deleted")
def _share_deleted(sender, instance: VMShare, **kwargs) -> None:
    notify_access_changed([instance.user_id])


@receiver(pre_save, sender=VirtualMachine, dispatch_uid="vms.access_changes.vm_pre_save")
def _remember_owner(sender, instance: VirtualMachine, raw=False, update_fields=None, **kwargs) -> None:
    instance.__dict__.pop("_access_previous_owner", None)
    if raw or instance._state.adding or (update_fields is not None and "owner" not in update_fields):
        return  # most saves write other fields: no query for them
    previous = VirtualMachine.objects.filter(pk=instance.pk).values_list("owner_id", flat=True).first()
    if previous is not None and previous != instance.owner_id:
        instance.__dict__["_access_previous_owner"] = previous


@receiver(post_save, sender=VirtualMachine, dispatch_uid="vms.access_changes.vm_saved")
def _owner_changed(sender, instance: VirtualMachine, **kwargs) -> None:
    previous = instance.__dict__.pop("_access_previous_owner", None)
    if previous is not None:
        notify_access_changed([previous])
