"""{% load ui %}: the shared formatting filters (see ui/formatting.py and docs/ui.md)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.http import QueryDict
from django.utils.html import format_html, json_script
from django.utils.translation import gettext, ngettext

from ui import formatting

register = template.Library()


@register.filter
def when(value: datetime | None) -> str:
    """<time> with the relative time as text and the exact time and zone on hover (and for machines).

    The class `when` lets app.js re-render it every minute, so "just now" does not stay true for an hour.
    """
    if not value:
        return "—"
    return format_html(
        '<time class="when" datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        formatting.exact_time(value),
        formatting.relative_time(value),
    )


@register.filter
def size_mib(value) -> str:
    return formatting.size_mib(value)


@register.filter
def size_gib(value) -> str:
    return formatting.size_gib(value)


@register.filter
def size_bytes(value) -> str:
    return formatting.size_bytes(value)


@register.filter
def vcpus(value) -> str:
    """3 -> "3 vCPUs", 1 -> "1 vCPU"."""
    count = int(value or 0)
    return ngettext("%(count)d vCPU", "%(count)d vCPUs", count) % {"count": count}


# --- form fields (templates/components/field.html, form_errors.html) ---


def _field_ids(field) -> tuple[str, str]:
    """The ids the field component gives its help text and its error list (none when the form has no ids)."""
    return (f"{field.auto_id}-help", f"{field.auto_id}-errors") if field.auto_id else ("", "")


@register.simple_tag
def field_widget(field) -> str:
    """The field's widget, described by its help and errors, and marked invalid when it has errors.

    Django points `aria-describedby` at its own `<id>_helptext`, which our component does not render:
    a screen reader would then read nothing, so the ids here are exactly the ones field.html writes.
    """
    help_id, errors_id = _field_ids(field)
    described = [i for i, present in ((errors_id, field.errors), (help_id, field.help_text)) if i and present]
    attrs = {}
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)


@register.filter
def is_checkbox(field) -> bool:
    """A single checkbox: rendered box first, then its label on the same line."""
    return getattr(field.field.widget, "input_type", None) == "checkbox" and not getattr(
        field.field.widget, "allow_multiple_selected", False
    )


@register.filter
def anchor_id(field) -> str:
    """The id of the element to jump to for this field: its first input for a group of radios or boxes."""
    if not field.auto_id:
        return ""
    subwidgets = field.subwidgets
    if len(subwidgets) > 1 or getattr(field.field.widget, "allow_multiple_selected", False):
        return subwidgets[0].id_for_label if subwidgets else field.auto_id
    return field.id_for_label or field.auto_id


# --- pagination (templates/components/pager.html) ---


@register.simple_tag(takes_context=True)
def page_query(context, number) -> str:
    """ "?<the current query>&page=<number>": filters and search survive paging."""
    request = context.get("request")
    query = request.GET.copy() if request is not None else QueryDict(mutable=True)
    query["page"] = number
    return "?" + query.urlencode()


# --- navigation (templates/base.html) ---


@register.simple_tag
def nav_current(path: str, *urls: str) -> str:
    """Of the menu's URLs, the one this page is under (the longest prefix), so that a VM's page marks
    "My VMs" and /requests/inbox/ marks "Approvals", not "My requests"."""
    matches = [u for u in urls if u and u != "/" and path.startswith(u)]
    return max(matches, key=len, default="")


# --- strings for static/js/app.js ---


@register.simple_tag
def ui_strings() -> str:
    """The words app.js shows (dialog buttons, table counts, live state), in the page's language."""
    strings = {
        "cancel": gettext("Cancel"),
        "confirm": gettext("Confirm"),
        "typeName": gettext("To confirm, type %(name)s:"),
        "shown": gettext("%(count)s shown"),
        "justNow": gettext("just now"),
        "live": gettext("Live"),
        "offline": gettext("Offline"),
        "connecting": gettext("Connecting…"),
    }
    return json_script(strings, "ui-strings")
