"""ui/formatting.py and the `{% load ui %}` filters: one rule for sizes and times on every page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.template import engines
from django.utils import timezone, translation

from ui import formatting

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def render(source: str, **context) -> str:
    return engines["django"].from_string("{% load ui %}" + source).render(context)


def test_sizes_use_the_largest_sensible_unit():
    assert formatting.size_bytes(0) == "0 B"
    assert formatting.size_bytes(1023) == "1023 B"
    assert formatting.size_bytes(1536) == "1.5 KiB"
    assert formatting.size_bytes(8 * 2**30) == "8 GiB"
    assert formatting.size_bytes(150 * 2**20) == "150 MiB"  # three digits: no decimal
    assert formatting.size_mib(8192) == "8 GiB"
    assert formatting.size_mib(512) == "512 MiB"
    assert formatting.size_gib(2048) == "2 TiB"
    assert formatting.size_gib(10) == "10 GiB"


def test_a_missing_size_is_a_dash_not_zero():
    assert formatting.size_bytes(None) == formatting.size_mib(None) == formatting.size_gib(None) == "—"


def test_relative_times():
    assert formatting.relative_time(NOW - timedelta(seconds=20), NOW) == "just now"
    assert formatting.relative_time(NOW + timedelta(seconds=20), NOW) == "just now"
    assert formatting.relative_time(NOW - timedelta(minutes=3, seconds=30), NOW) == "3\xa0minutes ago"
    assert formatting.relative_time(NOW + timedelta(hours=2, minutes=5), NOW) == "in 2\xa0hours"
    assert formatting.relative_time(NOW - timedelta(days=9), NOW) == "1\xa0week ago"
    # Our own words in Vietnamese too (Django's catalog lacks its timesince strings: "3 minutes trước").
    with translation.override("vi"):
        assert formatting.relative_time(NOW - timedelta(minutes=3), NOW) == "3\xa0phút trước"


def test_exact_time_names_the_zone():
    assert formatting.exact_time(NOW) == "2026-11-30 12:00 UTC"


def test_when_renders_a_time_element_app_js_can_refresh():
    moment = timezone.now() - timedelta(minutes=5)
    html = render("{{ t|when }}", t=moment)
    assert html.startswith('<time class="when" datetime="' + moment.isoformat() + '"')
    assert f'title="{formatting.exact_time(moment)}"' in html
    assert "5\xa0minutes ago" in html
    assert render("{{ t|when }}", t=None) == "—"


def test_size_and_count_filters():
    assert render("{{ 8192|size_mib }} {{ 40|size_gib }} {{ 1536|size_bytes }}") == "8 GiB 40 GiB 1.5 KiB"
    assert render("{{ 1|vcpus }} / {{ 3|vcpus }}") == "1 vCPU / 3 vCPUs"
