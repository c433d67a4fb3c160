"""Memory sizes as libvirt writes them: a number plus a unit attribute (KiB when absent).

libvirt's scaling rule (virScaleInteger): 'b'/'bytes' is 1; a single letter k/m/g/t/p/e or the
same letter followed by 'iB' is a power of 1024; the letter followed by 'B' is a power of 1000.
The letter is case-insensitive.
"""

from __future__ import annotations

import re

from .errors import InvalidValueError

_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
_SIZE = re.compile(r"^\s*(\d+)\s*([A-Za-z]*)\s*$")

DEFAULT_UNIT = "KiB"
KIB = 1024


def unit_factor(unit: str | None) -> int:
    """Bytes per `unit`; None or '' means libvirt's default, KiB."""
    if not unit:
        return KIB
    low = unit.lower()
    if low in ("b", "byte", "bytes"):
        return 1
    letter, rest = low[0], low[1:]
    if letter in _POWERS:
        if rest in ("", "ib"):
            return 1024 ** _POWERS[letter]
        if rest == "b":
            return 1000 ** _POWERS[letter]
    raise InvalidValueError(f"unknown memory unit '{unit}'; use b, KB, K/KiB, MB, M/MiB, GB, G/GiB, TB or T/TiB")


def parse_size(value: str | int, default_unit: str = DEFAULT_UNIT) -> int:
    """Return a size in bytes from an int (in `default_unit`) or a string like '2GiB' or '512'."""
    if isinstance(value, bool):
        raise InvalidValueError("a memory size must be a number, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise InvalidValueError("a memory size cannot be negative")
        return value * unit_factor(default_unit)
    if not isinstance(value, str):
        raise InvalidValueError(f"a memory size must be a number or a string, not {type(value).__name__}")
    match = _SIZE.match(value)
    if not match:
        raise InvalidValueError(f"'{value}' is not a memory size (examples: 2GiB, 512MiB, 1048576)")
    number, unit = match.groups()
    return int(number) * unit_factor(unit or default_unit)


def to_kib(value: str | int, default_unit: str = DEFAULT_UNIT) -> int:
    """Size in KiB, rounded up as libvirt does when it stores memory in KiB."""
    size = parse_size(value, default_unit)
    return -(-size // KIB)


def format_kib(kib: int) -> str:
    """Short human form, e.g. 2097152 -> '2 GiB', 1536 -> '1.5 MiB'."""
    for unit, power in (("TiB", 3), ("GiB", 2), ("MiB", 1)):
        if kib >= 1024**power:
            amount = kib / 1024**power
            return f"{amount:g} {unit}" if amount * 10 == int(amount * 10) else f"{amount:.1f} {unit}"
    return f"{kib} KiB"
