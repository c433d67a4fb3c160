from __future__ import annotations

import pytest

from vms.domainxml import InvalidValueError, parse_size, to_kib
from vms.domainxml.units import format_kib, unit_factor


@pytest.mark.parametrize(
    "unit,factor",
    [
        ("b", 1),
        ("bytes", 1),
        ("KB", 1000),
        ("K", 1024),
        ("KiB", 1024),
        ("k", 1024),
        ("MB", 10**6),
        ("M", 1024**2),
        ("MiB", 1024**2),
        ("GB", 10**9),
        ("G", 1024**3),
        ("GiB", 1024**3),
        ("TB", 10**12),
        ("T", 1024**4),
        ("TiB", 1024**4),
        (None, 1024),
        ("", 1024),
    ],
)
def test_unit_factors(unit, factor):
    assert unit_factor(unit) == factor


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2GiB", 2 * 1024**3),
        ("2 GiB", 2 * 1024**3),
        ("512MiB", 512 * 1024**2),
        ("1024", 1024 * 1024),
        ("1GB", 10**9),
        ("3k", 3072),
        (" 7b ", 7),
        (4, 4096),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "GiB", "-1GiB", "1.5GiB", "2 XiB", "2GiBs", "ten"])
def test_parse_size_refuses(bad):
    with pytest.raises(InvalidValueError):
        parse_size(bad)


def test_to_kib_rounds_up_like_libvirt():
    assert to_kib("1b") == 1
    assert to_kib("1025b") == 2
    assert to_kib("1GB") == 976563
    assert to_kib(2048) == 2048


def test_format_kib():
    assert format_kib(2097152) == "2 GiB"
    assert format_kib(1536) == "1.5 MiB"
    assert format_kib(500) == "500 KiB"
