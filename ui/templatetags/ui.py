"""{% load ui %}: the shared formatting filters (see ui/formatting.py and docs/ui.md)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html
from django.utils.translation import ngettext

from ui import formatting

register = template.Library()


@register.filter
def when(value: datetime | None) -> str:
    """<time> with the relative time as text and the exact time and zone on hover (and for machines)."""
    if not value:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
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
