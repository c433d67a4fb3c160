"""Tell a user's open websockets that their rights changed, so they re-check them at once.

One control message, {"type": "access.changed"}, goes to the user's sockets group
(`live.groups.user_sockets_group`) once the change is committed (a socket that re-checks must see
the new rows): a share made, lowered or removed, a group joined or left, admin status changed, the
password changed, the account deactivated or deleted. Every socket of that user then re-checks, in a
worker thread (`SessionSocket.recheck`):

1. that its session still logs this user in: the session exists, the user is active, the session's
   password hash is the current one (so the session that changed its own password through
   `update_session_auth_hash` keeps its sockets, the others do not). Else it closes with 4401.
2. what it shows (`SessionSocket.access_still_allowed`). Else it closes with 4403 (the job socket:
   4404), or downgrades (a console that may no longer type keeps the picture, drops input).

The receivers here cover Django's auth models (users and their groups); apps add their own (the VM
shares: `vms/access_changes.py`) and call `notify_access_changed`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from live.groups import user_sockets_group

log = logging.getLogger(__name__)

ACCESS_CHANGED = "access.changed"

# The password logs other sessions out, is_active all of them; admins see every VM and every job.
_WATCHED_FIELDS = ("password", "is_active", "is_staff", "is_superuser")


def send_access_changed(user_ids: Iterable[int]) -> None:
    """Tell every open socket of these users to re-check, now."""
    layer = get_channel_layer()
    if layer is None:
        return
    for user_id in dict.fromkeys(user_ids):
        try:
            async_to_sync(layer.group_send)(user_sockets_group(user_id), {"type": ACCESS_CHANGED})
        except Exception:  # never fail the change itself because Redis hiccuped
            log.exception("could not tell the sockets of user %s that their access changed", user_id)


def notify_access_changed(user_ids: Iterable[int]) -> None:
    """The rights or credentials of these users changed: their sockets re-check once it commits
    (at once outside a transaction)."""
    ids = [user_id for user_id in dict.fromkeys(user_ids) if user_id is not None]
    if ids:
        transaction.on_commit(lambda: send_access_changed(ids))


# --- users --------------------------------------------------------------------------------------


def _watched_fields(model) -> list[str]:
    names = {field.attname for field in model._meta.concrete_fields}
    return [name for name in _WATCHED_FIELDS if name in names]


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="live.access.user_pre_save")
def _remember_user_change(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Compare with the stored row (one query, only when a watched field may be written)."""
    instance.__dict__.pop("_live_access_change", None)
    if raw or instance._state.adding or instance.pk is None:
        return
    fields = _watched_fields(sender)
    if update_fields is not None:
        fields = [name for name in fields if name in update_fields]  # e.g. last_login alone: nothing
    if not fields:
        return
    old = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    if old is None:
        return
    if any(old[name] != getattr(instance, name) for name in fields):
        instance.__dict__["_live_access_change"] = True


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="live.access.user_post_save")
def _announce_user_change(sender, instance, created=False, **kwargs) -> None:
    # After the row is written: outside a transaction on_commit runs at once, so not in pre_save.
    if instance.__dict__.pop("_live_access_change", False):
        notify_access_changed([instance.pk])


@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="live.access.user_post_delete")
def _announce_user_deleted(sender, instance, **kwargs) -> None:
    notify_access_changed([instance.pk])


# --- groups (admins and operators are roles; the operators group is one) ------------------------


@receiver(m2m_changed, dispatch_uid="live.access.user_groups_changed")
def _announce_group_membership(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if sender is not get_user_model().groups.through:
        return
    if not reverse:  # user.groups.add/remove/clear/set(...): one user
        if action in ("post_add", "post_remove", "post_clear"):
            notify_access_changed([instance.pk])
        return
    # group.user_set.add/remove/clear(...): the users in pk_set (clear: those who were members)
    if action == "pre_clear":
        instance.__dict__["_live_cleared_users"] = list(instance.user_set.values_list("pk", flat=True))
    elif action == "post_clear":
        notify_access_changed(instance.__dict__.pop("_live_cleared_users", []))
    elif action in ("post_add", "post_remove"):
        notify_access_changed(pk_set or [])


@receiver(pre_delete, sender="auth.Group", dispatch_uid="live.access.group_pre_delete")
def _remember_group_members(sender, instance, **kwargs) -> None:
    # Deleting a group removes its members without an m2m_changed signal.
    instance.__dict__["_live_members"] = list(instance.user_set.values_list("pk", flat=True))


@receiver(post_delete, sender="auth.Group", dispatch_uid="live.access.group_post_delete")
def _announce_group_deleted(sender, instance, **kwargs) -> None:
    notify_access_changed(instance.__dict__.pop("_live_members", []))


@receiver(post_save, sender="auth.Group", dispatch_uid="live.access.group_post_save")
def _announce_group_renamed(sender, instance, created=False, raw=False, **kwargs) -> None:
    # Roles go by group name ("operators"): a renamed group may give or take a role.
    if not created and not raw:
        notify_access_changed(instance.user_set.values_list("pk", flat=True))
