"""Hostile strings can never change the document's structure; illegal characters get our error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vms.domainxml import Domain, DomainXMLError, InvalidValueError, set_field

from .helpers import SEED, tag_paths

NASTY = [
    "</name>",
    "<name>x</name>",
    "'",
    '"',
    "&",
    "&amp;",
    "&lt;",
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x01",
    "\x1b",
    "]]>",
    "<!--",
    "-->",
    "<?pi?>",
    "<![CDATA[",
    "/",
    "\ufffe",
    "\ud800",
    "é",
    "\U0001f600",
    " ",
]
hostile_text = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=8)), max_size=8).map("".join)


def _seed() -> Domain:
    return Domain.from_xml(SEED.read_text())


# field setter, reader -- each writes a string value somewhere different in the tree
TARGETS = {
    "name": (lambda d, v: setattr(d, "name", v), lambda d: d.name),
    "title": (lambda d, v: setattr(d, "title", v), lambda d: d.title),
    "description": (lambda d, v: setattr(d, "description", v), lambda d: d.description),
    "disk path": (lambda d, v: setattr(d.devices.disks[0], "source_file", v), lambda d: d.devices.disks[0].source_file),
    "kernel": (lambda d, v: setattr(d.os, "kernel", v), lambda d: d.os.kernel),
    "cmdline": (lambda d, v: setattr(d.os, "cmdline", v), lambda d: d.os.cmdline),
    "bridge": (
        lambda d, v: setattr(d.devices.interfaces[0], "source_bridge", v),
        lambda d: d.devices.interfaces[0].source_bridge,
    ),
    "emulator": (lambda d, v: setattr(d.devices, "emulator", v), lambda d: d.devices.emulator),
}


def _structure_after_safe_write(target: str) -> list[str]:
    dom = _seed()
    TARGETS[target][0](dom, "safe")
    return tag_paths(dom.to_xml())


@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(max_examples=150, deadline=None)
@given(value=hostile_text)
def test_hostile_value_is_stored_as_a_value_or_refused(target, value):
    write, read = TARGETS[target]
    dom = _seed()
    devices_before = len(dom.devices.all())
    try:
        write(dom, value)
    except InvalidValueError as exc:
        assert isinstance(exc, DomainXMLError)  # ours, not lxml's bare ValueError
        assert tag_paths(dom.to_xml()) == tag_paths(SEED.read_text())  # refused = untouched
        return
    out = dom.to_xml()
    again = Domain.from_xml(out)
    assert tag_paths(out) == _structure_after_safe_write(target)
    assert len(again.devices.all()) == devices_before
    assert read(again) == value  # the exact string came back: it was data, never markup


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "\x01", "\ufffe", "\ud800", "x\x0by"])
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_xml_illegal_characters_raise_our_error(target, bad):
    with pytest.raises(InvalidValueError, match="U\\+"):
        TARGETS[target][0](_seed(), bad)


@pytest.mark.parametrize(
    "bad,reason",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a/b", "'/'"),
        ("a\nb", "control character U\\+000A"),
        ("tab\there", "control character U\\+0009"),
        ("esc\x1b", "U\\+001B"),
        ("x" * 201, "too long"),
        ("é" * 101, "too long"),
    ],
)
def test_name_rules(bad, reason):
    dom = _seed()
    with pytest.raises(InvalidValueError, match=reason):
        dom.name = bad
    assert dom.name == "son"


def test_name_allows_what_libvirt_allows():
    dom = _seed()
    for ok in ["web-01", "My VM (test)", "naïve.domain_1", "a<name>x<b>&'\"", "x" * 200]:
        dom.name = ok
        assert Domain.from_xml(dom.to_xml()).name == ok


def test_title_is_one_line_description_is_not():
    dom = _seed()
    with pytest.raises(InvalidValueError, match="title cannot contain"):
        dom.title = "two\nlines"
    dom.description = "two\nlines & <b>"
    assert Domain.from_xml(dom.to_xml()).description == "two\nlines & <b>"


def test_set_field_is_equally_safe():
    dom = _seed()
    set_field(dom, "title", "</title><evil/>")
    assert "<evil" not in tag_paths(dom.to_xml())[-1]
    assert tag_paths(dom.to_xml()).count("/domain/title") == 1
    with pytest.raises(InvalidValueError):
        set_field(dom, "cmdline", "a\x00b")


def test_parse_refuses_entities_and_non_domain():
    from vms.domainxml import ParseError

    xxe = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain><name>&x;</name></domain>'
    dom = Domain.from_xml(xxe)
    assert "root:" not in (dom.name or "") and "root:" not in dom.to_xml()
    with pytest.raises(ParseError, match="root element must be <domain>"):
        Domain.from_xml("<network/>")
    with pytest.raises(ParseError, match="not well-formed XML \\(line 1\\)"):
        Domain.from_xml("<domain>")
