"""Validation against libvirt's own RelaxNG schema (domain.rng), with useful error locations.

libxml2's RelaxNG messages for libvirt's schema are vague ("Extra element devices in
interleave", reported on the parent). So when a document is invalid we also look for the
smallest single attribute or element whose removal makes the document valid, and report that
node's path and line; libxml2's own message is kept alongside.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from lxml import etree

from .errors import SchemaIssue, ValidationError
from .model import Domain, _parser
from .tree import is_element

SCHEMA_DIR_ENV = "LIBVIRT_SCHEMA_DIR"
DEFAULT_SCHEMA_DIR = "/usr/share/libvirt/schemas"
_MAX_PROBES = 3000  # bound the localisation search on huge documents


def schema_path() -> Path:
    return Path(os.environ.get(SCHEMA_DIR_ENV, DEFAULT_SCHEMA_DIR)) / "domain.rng"


@functools.lru_cache(maxsize=4)
def _load_schema(path: str) -> etree.RelaxNG:
    # Parsing from the file path gives the document its base URL, so the schema's relative
    # <include href="basictypes.rng"/> etc. resolve against the schema directory.
    return etree.RelaxNG(etree.parse(path))


def load_schema() -> etree.RelaxNG:
    """The compiled domain schema, loaded once per process."""
    return _load_schema(str(schema_path()))


def _as_tree(doc: Domain | str | bytes) -> etree._ElementTree:
    # Re-parse the serialised text so line numbers match what the user sees/prints.
    text = doc.to_xml() if isinstance(doc, Domain) else doc
    data = text.encode("utf-8") if isinstance(text, str) else text
    return etree.fromstring(data, _parser()).getroottree()


def _valid_without(schema: etree.RelaxNG, tree: etree._ElementTree, el: etree._Element, attr: str | None) -> bool:
    """Would the document validate with `el` (or its attribute `attr`) removed? Restores it."""
    if attr is not None:
        value = el.attrib.pop(attr)
        try:
            return schema.validate(tree)
        finally:
            el.set(attr, value)
    parent = el.getparent()
    index = parent.index(el)
    tail = el.tail
    parent.remove(el)
    try:
        return schema.validate(tree)
    finally:
        parent.insert(index, el)
        el.tail = tail


def _locate(schema: etree.RelaxNG, tree: etree._ElementTree) -> SchemaIssue | None:
    """Deepest single node whose removal makes the document valid, as an issue, or None."""
    probes = 0
    best: SchemaIssue | None = None

    def issue_for(el: etree._Element, attr: str | None) -> SchemaIssue:
        path = tree.getpath(el)
        if attr is not None:
            msg = f"attribute {attr}={el.get(attr)!r} is not allowed here or has an invalid value"
        elif len(el) == 0 and (el.text or "").strip():
            msg = f"<{el.tag}> has a value the schema does not allow: {el.text.strip()!r}"
        else:
            msg = f"<{etree.QName(el).localname}> is not allowed here or its content is invalid"
        return SchemaIssue(path, el.sourceline, msg)

    def walk(el: etree._Element) -> None:
        nonlocal probes, best
        for child in el:
            if not is_element(child) or probes > _MAX_PROBES:
                continue
            probes += 1
            if _valid_without(schema, tree, child, None):
                best = issue_for(child, None)
                walk(child)  # something deeper may be the real culprit
                continue
            # Removing a required child breaks validity for another reason; its attributes
            # may still be the problem (e.g. <target bus='bogus'/> inside a <disk>).
            for attr in list(child.attrib):
                probes += 1
                if _valid_without(schema, tree, child, attr):
                    best = issue_for(child, attr)
                    return
            if len(child):
                before = best
                walk(child)
                if best is not before:
                    return

    root = tree.getroot()
    for attr in list(root.attrib):
        if _valid_without(schema, tree, root, attr):
            return issue_for(root, attr)
    walk(root)
    return best


def schema_issues(doc: Domain | str | bytes) -> list[SchemaIssue]:
    """Empty list when valid; otherwise the located problem first, then libxml2's messages."""
    schema = load_schema()
    tree = _as_tree(doc)
    if schema.validate(tree):
        return []
    raw = [SchemaIssue(e.path or "/domain", e.line or None, e.message) for e in schema.error_log if e.message]
    located = _locate(schema, tree)
    issues = [located] if located else []
    for issue in raw:
        if issue not in issues:  # libxml2 repeats itself
            issues.append(issue)
    return issues


def validate(doc: Domain | str | bytes) -> None:
    """Raise ValidationError (listing paths and lines) unless the document matches domain.rng."""
    issues = schema_issues(doc)
    if issues:
        raise ValidationError(issues)


def is_valid(doc: Domain | str | bytes) -> bool:
    return not schema_issues(doc)
