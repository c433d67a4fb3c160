"""Shared helpers for the domain XML engine tests (no Django)."""

from __future__ import annotations

import glob
from collections import Counter
from pathlib import Path

from lxml import etree

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
SEED = Path("/work/shared/seed/son.xml")
CORPUS = sorted(Path(p) for p in glob.glob("/work/shared/corpus/domains/*.xml"))
RICH = FIXTURES / "rich.xml"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def canonical(xml: str | bytes) -> str:
    """C14N of the whole document with whitespace-only text dropped (formatting is not data)."""
    data = xml.encode() if isinstance(xml, str) else xml
    tree = etree.fromstring(data, etree.XMLParser(resolve_entities=False)).getroottree()
    for el in tree.iter():
        if el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    return etree.tostring(tree, method="c14n").decode()


def canonical_lines(xml: str | bytes) -> list[str]:
    """Canonical form, one element per line, so a diff shows exactly what changed."""
    root = etree.fromstring(canonical(xml).encode())
    return [line.strip() for line in etree.tostring(root, pretty_print=True, encoding="unicode").splitlines()]


def diff(before: str | bytes, after: str | bytes) -> tuple[list[str], list[str]]:
    """(removed lines, added lines) between the canonical forms, as multisets in document order.

    Multisets rather than a line diff: documents repeat identical lines (two <redirdev> blocks),
    and a diff algorithm may pair those up in surprising ways.
    """
    old, new = canonical_lines(before), canonical_lines(after)
    return _minus(old, new), _minus(new, old)


def _minus(lines: list[str], other: list[str]) -> list[str]:
    budget = Counter(other)
    out = []
    for line in lines:
        if budget[line]:
            budget[line] -= 1
        else:
            out.append(line)
    return out


def tag_paths(xml: str) -> list[str]:
    """Every element's path, in document order: the document's structure without its values."""
    tree = etree.fromstring(xml.encode()).getroottree()
    return [tree.getpath(el) for el in tree.iter() if isinstance(el.tag, str)]
