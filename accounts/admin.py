"""The Django admin, audited: `AuditedAdmin` is mixed into every registered ModelAdmin (here, vms/,
portal/, jobs/), so a row added, changed or deleted through the admin writes an audit entry
(`<type>.add|change|delete`, details `via: "admin"` and the changed fields) in the same transaction.

Users and groups are registered again with it (staff and active flags, groups, permissions, passwords),
API tokens are listed (never their keys), and the admin's login form is throttled like the login page.
"""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import models

from accounts.forms import ThrottledAdminAuthenticationForm
from accounts.models import ApiToken
from audit import log as audit_log

# Never write these fields' values to the log, only that they changed (a URI may hold credentials).
SECRET_WORDS = {"uri", "key", "secret", "token"}

admin.site.login_form = ThrottledAdminAuthenticationForm


def _plain(value):
    """A changed field's new value as JSON the log can hold."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, models.QuerySet | list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date | datetime.time | decimal.Decimal | uuid.UUID):
        return str(value)
    return str(value)


def changed_fields(form) -> dict:
    if form is None:
        return {}
    changed = {}
    for name in form.changed_data:
        words = name.lower().split("_")
        if any(w in SECRET_WORDS or w.startswith("password") for w in words):
            changed[name] = "(changed)"
        else:
            changed[name] = _plain(form.cleaned_data.get(name))
    return changed


def record(request, verb: str, obj, **details) -> None:
    audit_log.record(request.user, f"{audit_log.object_type_of(obj)}.{verb}"[:64], obj, via="admin", **details)


class AuditedAdmin:
    """Mixed into a ModelAdmin (before admin.ModelAdmin): every add, change and delete is audited."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        fields = changed_fields(form)
        if fields or not change:
            record(request, "change" if change else "add", obj, fields=fields)

    def delete_model(self, request, obj):
        record(request, "delete", obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            record(request, "delete", obj)
        super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        """Rows of inlines (a host's image copies, ...): each one added, changed or deleted is audited too."""
        for inline_form in getattr(formset, "deleted_forms", []):
            if inline_form.instance.pk is not None:
                record(request, "delete", inline_form.instance, parent=str(form.instance))
        super().save_formset(request, form, formset, change)
        for obj in getattr(formset, "new_objects", []):
            record(request, "add", obj, parent=str(form.instance))
        for obj, names in getattr(formset, "changed_objects", []):
            fields = {n: _plain(getattr(obj, n, None)) for n in names}
            record(request, "change", obj, parent=str(form.instance), fields=fields)


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    def log_change(self, request, obj, message):
        # The password form saves the user itself (not through save_model): audit it here.
        match = getattr(request, "resolver_match", None)
        if match is not None and (match.url_name or "").endswith("password_change"):
            record(request, "password", obj)
        return super().log_change(request, obj, message)


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    pass


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin, admin.ModelAdmin):
    """Tokens are made by their owner (/api/v1/me/tokens/, manage.py api_token); here they are listed and
    may be deleted. The key is never stored, so it is never shown."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = [f.name for f in ApiToken._meta.fields if f.name != "key_hash"]
    exclude = ["key_hash"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
