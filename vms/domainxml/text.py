"""Checks for strings before they enter the XML tree.

lxml already escapes everything it is given (a value can never become markup), but it rejects
characters XML 1.0 cannot carry with its own generic ValueError. We check first so users get a
message that names the field and the character.
"""

from __future__ import annotations

import re

from .errors import InvalidValueError

# XML 1.0 Char production: everything else (NUL, most C0 controls, lone surrogates,
# U+FFFE/U+FFFF) cannot be represented in a document at all, not even as a character reference.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# C0/C1 control characters, including tab/newline: refused where a single clean line is expected.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def describe_char(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def check_text(value: object, field: str) -> str:
    """Return `value` if it is a str XML can carry, else raise InvalidValueError."""
    if not isinstance(value, str):
        raise InvalidValueError(f"{field} must be a string, not {type(value).__name__}")
    bad = _XML_ILLEGAL.search(value)
    if bad:
        raise InvalidValueError(f"{field} contains the character {describe_char(bad.group())}, which XML cannot store")
    return value


def check_line(value: object, field: str) -> str:
    """Like check_text, and also refuse control characters (newline, tab, ...)."""
    value = check_text(value, field)
    bad = _CONTROL.search(value)
    if bad:
        raise InvalidValueError(f"{field} cannot contain the control character {describe_char(bad.group())}")
    return value
