"""An admin's hand edit of a VM's domain XML: what must stay, what is carried over, what changed.

The XML an admin sees and edits has no display passwords (vms.domainxml.vm.without_display_passwords);
`keep_display_passwords` puts the current ones back before the edit is defined, so the console relay
still logs in. A display the edit adds gets a fresh random password: no display is ever left open.
"""

from __future__ import annotations

import difflib

from .errors import InvalidValueError
from .model import Domain
from .vm import DISPLAY_TYPES, new_display_password

# A domain XML is a few KiB; anything near this is a mistake (or an attempt to fill the database).
MAX_XML_CHARS = 512 * 1024


def parse_edit(xml: str) -> Domain:
    """The edited document, or ParseError / InvalidValueError saying why not."""
    if not isinstance(xml, str) or not xml.strip():
        raise InvalidValueError("the domain XML is empty")
    if len(xml) > MAX_XML_CHARS:
        raise InvalidValueError(f"the domain XML is longer than {MAX_XML_CHARS} characters")
    return Domain.from_xml(xml.strip())


def identity_problems(dom: Domain, uuid: str, name: str) -> list[str]:
    """What differs from the VM's identity (its UUID and its name must stay): empty when nothing."""
    problems = []
    found_uuid = (dom.uuid or "").strip().lower()
    if found_uuid != uuid.lower():
        problems.append("uuid")
    if (dom.name or "").strip() != name:
        problems.append("name")
    return problems


def keep_display_passwords(edited: Domain, current: Domain) -> None:
    """Each VNC/SPICE display of `edited` without a `passwd` takes the one of the current display of
    the same type in the same position, or a new random one when the current config has none."""
    kept: dict[str, list[str | None]] = {}
    for graphics in current.devices.graphics:
        kept.setdefault(graphics.type or "", []).append(graphics.element.get("passwd"))
    seen: dict[str, int] = {}
    for graphics in edited.devices.graphics:
        kind = graphics.type or ""
        index = seen.get(kind, 0)
        seen[kind] = index + 1
        if kind not in DISPLAY_TYPES or graphics.element.get("passwd"):
            continue
        old = kept.get(kind, [])
        password = old[index] if index < len(old) and old[index] else new_display_password(kind)
        graphics.element.set("passwd", password)


def unified_diff(before: str, after: str, before_label: str = "saved", after_label: str = "edited") -> str:
    """The change as a unified diff (empty when the two are the same, line by line)."""
    lines = difflib.unified_diff(
        before.strip().splitlines(), after.strip().splitlines(), before_label, after_label, lineterm=""
    )
    return "\n".join(lines)
