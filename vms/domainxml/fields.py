"""Descriptor helpers: typed properties that read and write the lxml tree directly.

A model object never copies data out of the tree; each property finds its element or attribute
on every access. That is what makes the model lossless: whatever no property touches is simply
never changed. Writing None removes the attribute or element; writing a value creates the
missing elements at their schema-ordered place (see tree.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lxml import etree

from .errors import InvalidValueError
from .text import check_text
from .tree import ensure_path, find_path, insert_child, remove_element

T = TypeVar("T")


class View:
    """Base of every model object: something that can find (or create) its element."""

    def _node(self, create: bool = False) -> etree._Element | None:
        raise NotImplementedError


class ElementView(View):
    """A view bound to one existing element (a device, a timer, the root)."""

    def __init__(self, element: etree._Element) -> None:
        self._el = element

    def _node(self, create: bool = False) -> etree._Element:
        return self._el

    @property
    def element(self) -> etree._Element:
        """The underlying lxml element, for anything the typed API does not cover."""
        return self._el

    @property
    def tag(self) -> str:
        return self._el.tag

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ElementView) and other._el is self._el

    def __hash__(self) -> int:
        return hash(id(self._el))

    def to_xml(self) -> str:
        return etree.tostring(self._el, encoding="unicode", with_tail=False)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.to_xml()[:80]!r}>"


class SectionView(View):
    """A view of an optional child element (<os>, <cpu>, ...), created on first write."""

    def __init__(self, parent: View, tag: str) -> None:
        self._parent = parent
        self._tag = tag

    def _node(self, create: bool = False) -> etree._Element | None:
        parent = self._parent._node(create)
        if parent is None:
            return None
        el = parent.find(self._tag)
        if el is None and create:
            el = insert_child(parent, self._tag)
        return el

    @property
    def element(self) -> etree._Element | None:
        return self._node()

    @property
    def present(self) -> bool:
        return self._node() is not None

    def remove(self) -> None:
        el = self._node()
        if el is not None:
            remove_element(el)


@dataclass(frozen=True)
class Conv(Generic[T]):
    """How a value is read from and written to XML text."""

    name: str
    parse: Callable[[str], T]
    format: Callable[[T], str]


def _parse_int(text: str) -> int:
    return int(text.strip(), 0) if text.strip().lower().startswith("0x") else int(text.strip())


def _format_int(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise InvalidValueError(f"'{value}' is not a whole number") from None
    return str(value)


def _parse_bool(text: str) -> bool:
    return text.strip().lower() in ("yes", "on", "true", "1")


def bool_from_user(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    low = str(value).strip().lower()
    if low in ("yes", "on", "true", "1"):
        return True
    if low in ("no", "off", "false", "0"):
        return False
    raise InvalidValueError(f"'{value}' is not a yes/no value")


STR: Conv[str] = Conv("text", lambda t: t, lambda v: v)
INT: Conv[int] = Conv("integer", _parse_int, _format_int)
YESNO: Conv[bool] = Conv("yes/no", _parse_bool, lambda v: "yes" if bool_from_user(v) else "no")
ONOFF: Conv[bool] = Conv("on/off", _parse_bool, lambda v: "on" if bool_from_user(v) else "off")


class _Field(Generic[T]):
    """Shared validation for Text and Attr."""

    def __init__(
        self,
        conv: Conv[T] = STR,
        *,
        choices: Iterable[str] | None = None,
        check: Callable[[Any], Any] | None = None,
        label: str | None = None,
        minimum: int | None = None,
    ) -> None:
        self.conv = conv
        self.choices = tuple(choices) if choices else None
        self.check = check
        self.label = label
        self.minimum = minimum

    def __set_name__(self, owner: type, name: str) -> None:
        self.label = self.label or name

    def to_text(self, value: Any) -> str:
        if self.check is not None:
            value = self.check(value)
        text = check_text(self.conv.format(value), self.label or "value")
        if self.choices is not None and text not in self.choices:
            raise InvalidValueError(f"{self.label} cannot be '{text}'; allowed: {', '.join(self.choices)}")
        if self.minimum is not None and int(text) < self.minimum:
            raise InvalidValueError(f"{self.label} must be at least {self.minimum}")
        return text

    def from_text(self, text: str | None) -> T | None:
        if text is None:
            return None
        try:
            return self.conv.parse(text)
        except ValueError:
            return None  # unparsable in the source document: treat as absent, never crash a read


class Text(_Field[T]):
    """Text content of the child element at `path` ('' = the view's own element)."""

    def __init__(self, path: str, conv: Conv[T] = STR, **kw: Any) -> None:
        super().__init__(conv, **kw)
        self.path = path

    def __get__(self, obj: View | None, owner: type) -> Any:
        if obj is None:
            return self
        el = find_path(obj._node(), self.path)
        return None if el is None else self.from_text(el.text or "")

    def __set__(self, obj: View, value: Any) -> None:
        if value is None:
            el = find_path(obj._node(), self.path)
            if el is not None and self.path:
                remove_element(el)
            return
        text = self.to_text(value)
        ensure_path(obj._node(create=True), self.path).text = text


class Attr(_Field[T]):
    """Attribute `name` of the view's element, or of the child element at `path`."""

    def __init__(self, name: str, path: str = "", conv: Conv[T] = STR, **kw: Any) -> None:
        super().__init__(conv, **kw)
        self.attr = name
        self.path = path

    def __get__(self, obj: View | None, owner: type) -> Any:
        if obj is None:
            return self
        el = find_path(obj._node(), self.path)
        return None if el is None else self.from_text(el.get(self.attr))

    def __set__(self, obj: View, value: Any) -> None:
        if value is None:
            el = find_path(obj._node(), self.path)
            if el is not None and self.attr in el.attrib:
                del el.attrib[self.attr]
            return
        text = self.to_text(value)
        ensure_path(obj._node(create=True), self.path).set(self.attr, text)


class Flag:
    """Presence of an (empty) child element, e.g. <readonly/> or <acpi/>."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __get__(self, obj: View | None, owner: type) -> Any:
        if obj is None:
            return self
        return find_path(obj._node(), self.path) is not None

    def __set__(self, obj: View, value: Any) -> None:
        if bool_from_user(value):
            ensure_path(obj._node(create=True), self.path)
        else:
            el = find_path(obj._node(), self.path)
            if el is not None:
                remove_element(el)


class Choice(Text[str]):
    """Text restricted to a fixed set, with the allowed values in the error message."""

    def __init__(self, path: str, choices: Iterable[str], **kw: Any) -> None:
        super().__init__(path, STR, choices=choices, **kw)
