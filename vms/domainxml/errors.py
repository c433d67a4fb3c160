"""Errors raised by the domain XML engine.

Everything derives from ValueError so callers that only care about "bad input" can catch one
type, while the CLI and the web layer can still tell parse, value, validation and host problems
apart.
"""

from __future__ import annotations

from dataclasses import dataclass


class DomainXMLError(ValueError):
    """Base class of every error this package raises on purpose."""


class ParseError(DomainXMLError):
    """The input is not well-formed XML or not a <domain> document."""


class InvalidValueError(DomainXMLError):
    """A value given to the model is not acceptable (wrong type, illegal characters, ...)."""


class UnknownFieldError(DomainXMLError):
    """`set_field` was asked for a field that is not in the registry."""


@dataclass(frozen=True)
class SchemaIssue:
    """One problem found by RelaxNG validation, located in the document."""

    path: str  # XPath of the offending element, e.g. /domain/devices/disk[2]/target
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}" + (f" (line {self.line})" if self.line else "")
        return f"{where}: {self.message}"


class ValidationError(DomainXMLError):
    """The document does not match libvirt's RelaxNG schema."""

    def __init__(self, issues: list[SchemaIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues) or "document is invalid")


class AdaptError(DomainXMLError):
    """The host cannot run this domain at all, and there is no sensible substitute."""
