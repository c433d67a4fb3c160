"""One formatting rule for every page: sizes in the largest sensible unit, times relative with the exact
time and zone on hover. Plain functions, so views, emails and tests format the same way as templates."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size_bytes(value: int | float | None) -> str:
    """1536 -> "1.5 KiB"; 8 * 2**30 -> "8 GiB". None -> "—"."""
    if value is None:
        return "—"
    amount, unit = float(value), 0
    while abs(amount) >= 1024 and unit < len(_UNITS) - 1:
        amount /= 1024
        unit += 1
    decimals = 0 if unit == 0 or amount == int(amount) or abs(amount) >= 100 else 1
    return f"{number_format(round(amount, decimals), decimals)} {_UNITS[unit]}"


def size_mib(value: int | float | None) -> str:
    """Memory as the models keep it (MiB): 8192 -> "8 GiB"."""
    return "—" if value is None else size_bytes(float(value) * 2**20)


def size_gib(value: int | float | None) -> str:
    """Disk as the models keep it (GiB): 2048 -> "2 TiB"."""
    return "—" if value is None else size_bytes(float(value) * 2**30)


def exact_time(value: datetime) -> str:
    """The exact local time with its zone: "2026-11-30 15:51 UTC"."""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".strip()


def _span(seconds: float) -> str:
    """The largest whole unit: 7200 -> "2 hours". Our own words, not django.utils.timesince's: Django's
    Vietnamese catalog lacks its "%(num)d minute" strings, so Vietnamese pages read "5 minutes trước"."""
    for size, words in (
        (365 * 86400, lambda n: ngettext("%(count)d year", "%(count)d years", n)),
        (30 * 86400, lambda n: ngettext("%(count)d month", "%(count)d months", n)),
        (7 * 86400, lambda n: ngettext("%(count)d week", "%(count)d weeks", n)),
        (86400, lambda n: ngettext("%(count)d day", "%(count)d days", n)),
        (3600, lambda n: ngettext("%(count)d hour", "%(count)d hours", n)),
    ):
        if seconds >= size:
            count = int(seconds // size)
            return _keep_together(words(count) % {"count": count})
    count = int(seconds // 60)
    return _keep_together(ngettext("%(count)d minute", "%(count)d minutes", count) % {"count": count})


def _keep_together(span: str) -> str:
    """ "3 minutes" never breaks between the number and its unit."""
    return span.replace(" ", "\xa0")


def relative_time(value: datetime, now: datetime | None = None) -> str:
    """ "3 minutes ago", "in 2 hours", "just now"."""
    now = now or timezone.now()
    seconds = (now - value).total_seconds()
    if abs(seconds) < 60:
        return _("just now")
    if seconds > 0:
        return _("%(span)s ago") % {"span": _span(seconds)}
    return _("in %(span)s") % {"span": _span(-seconds)}
