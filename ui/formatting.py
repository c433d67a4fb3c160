"""One formatting rule for every page: sizes in the largest sensible unit, times relative with the exact
time and zone on hover. Plain functions, so views, emails and tests format the same way as templates."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.formats import number_format
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _

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


def relative_time(value: datetime, now: datetime | None = None) -> str:
    """ "3 minutes ago", "in 2 hours", "just now"."""
    now = now or timezone.now()
    seconds = (now - value).total_seconds()
    if abs(seconds) < 60:
        return _("just now")
    if seconds > 0:
        return _("%(span)s ago") % {"span": timesince(value, now, depth=1)}
    return _("in %(span)s") % {"span": timeuntil(value, now, depth=1)}
