"""Rules for domain names and titles.

libvirt itself refuses a name that is missing, contains '\\n' (virXMLCheckIllegalChars in the
domain parser) or contains '/' (the name becomes a file name under /etc/libvirt/qemu and
/run/libvirt). We are a little stricter: no control characters at all, not empty or blank, and a
length bound so the derived file names (NAME.xml, NAME.log, ...) stay under the usual 255-byte
file-name limit.
"""

from __future__ import annotations

from .errors import InvalidValueError
from .text import check_line

NAME_MAX_BYTES = 200


def check_name(name: object) -> str:
    name = check_line(name, "name")
    if not name.strip():
        raise InvalidValueError("name cannot be empty")
    if "/" in name:
        raise InvalidValueError("name cannot contain '/'")
    if len(name.encode("utf-8")) > NAME_MAX_BYTES:
        raise InvalidValueError(f"name is too long (at most {NAME_MAX_BYTES} bytes in UTF-8)")
    return name


def check_title(title: object) -> str:
    # libvirt refuses titles with newlines ("title can't contain newlines"); a title is one line.
    return check_line(title, "title")
