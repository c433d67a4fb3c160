from __future__ import annotations

import time
from pathlib import Path

import pytest

from vms.domainxml import Domain, ValidationError, is_valid, schema_issues, validate
from vms.domainxml.validate import load_schema

from .helpers import CORPUS, RICH, SEED


def test_schema_is_loaded_once():
    assert load_schema() is load_schema()


@pytest.mark.parametrize("path", [SEED, RICH, *CORPUS], ids=lambda p: p.name)
def test_known_good_documents_validate(path: Path):
    assert schema_issues(path.read_bytes()) == []


def test_validation_is_fast():
    xml = SEED.read_text()
    validate(xml)  # warm
    start = time.perf_counter()
    for _ in range(20):
        validate(xml)
    assert (time.perf_counter() - start) / 20 < 0.05


def _son_with(old: str, new: str) -> str:
    xml = SEED.read_text()
    assert old in xml
    return xml.replace(old, new)


def test_bad_attribute_is_reported_with_its_element_path_and_line():
    bad = _son_with("<target dev='hda' bus='ide'/>", "<target dev='hda' bus='floppy-ish'/>")
    with pytest.raises(ValidationError) as err:
        validate(bad)
    first = err.value.issues[0]
    assert first.path == "/domain/devices/disk[2]/target"
    assert first.line == bad.splitlines().index("      <target dev='hda' bus='floppy-ish'/>") + 1
    assert "bus='floppy-ish'" in first.message
    assert str(err.value).startswith(f"/domain/devices/disk[2]/target (line {first.line}): ")


def test_bad_value_is_reported():
    issues = schema_issues(_son_with("<on_crash>destroy</on_crash>", "<on_crash>explode</on_crash>"))
    assert issues[0].path == "/domain/on_crash"
    assert "'explode'" in issues[0].message


def test_unknown_element_is_reported():
    issues = schema_issues(_son_with("<memballoon model='virtio'>", "<memballoon model='virtio'><wobble/>"))
    assert issues[0].path == "/domain/devices/memballoon/wobble"


def test_missing_required_element_still_gives_a_path():
    issues = schema_issues(_son_with("<name>son</name>", ""))
    assert issues and issues[0].path.startswith("/domain")


def test_model_edits_can_be_validated():
    dom = Domain.from_xml(SEED.read_text())
    dom.devices.add_disk("/x.img", target_dev="vdb")
    assert is_valid(dom)
    dom.devices.disks[-1].target_bus = "bogus"
    with pytest.raises(ValidationError, match=r"/domain/devices/disk\[3\]/target"):
        validate(dom)
