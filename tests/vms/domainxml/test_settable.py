from __future__ import annotations

import pytest

from vms.domainxml import (
    Domain,
    InvalidValueError,
    UnknownFieldError,
    get_field,
    parse_assignment,
    set_field,
    settable_fields,
)
from vms.domainxml.settable import SETTABLE

from .helpers import SEED


@pytest.fixture
def son() -> Domain:
    return Domain.from_xml(SEED.read_text())


def test_every_registered_field_resolves_to_a_model_property(son):
    # A typo in the registry's target path would only show up when a user tries that field.
    not_properties = []
    for name in settable_fields():
        owner, attr = SETTABLE[name].owner_and_attr(son)  # AttributeError on a wrong step of the path
        # A typed property of the model that set_field can write (a data descriptor), not a stray attribute.
        if not hasattr(getattr(type(owner), attr, None), "__set__"):
            not_properties.append(f"{name} -> {SETTABLE[name].target}")
        elif SETTABLE[name].required:
            assert get_field(son, name) not in (None, ""), f"{name} reads nothing from a valid document"
    assert not_properties == []


@pytest.mark.parametrize(
    "field,value,expected",
    [
        ("name", "web1", "web1"),
        ("memory", "2GiB", 2097152),
        ("memory", "1048576", 1048576),
        ("currentMemory", "512MiB", 524288),
        ("vcpu", "4", 4),
        ("title", "Web server", "Web server"),
        ("on_crash", "restart", "restart"),
        ("boot", "hd, cdrom", ["hd", "cdrom"]),
        ("acpi", "no", False),
        ("pae", "yes", True),
        ("bootmenu", "on", True),
        ("machine", "q35", "q35"),
        ("cpu_mode", "host-model", "host-model"),
        ("type", "qemu", "qemu"),
        ("vcpu_current", "2", 2),
    ],
)
def test_set_field(son, field, value, expected):
    set_field(son, field, value)
    assert get_field(son, field) == expected
    assert get_field(Domain.from_xml(son.to_xml()), field) == expected


def test_empty_value_removes_optional_fields_only(son):
    set_field(son, "title", "x")
    set_field(son, "title", "")
    assert son.title is None and son.element.find("title") is None
    set_field(son, "boot", "")
    assert son.os.boot_devices == []
    with pytest.raises(InvalidValueError, match="name cannot be empty"):
        set_field(son, "name", "")


def test_unknown_field_lists_known_ones(son):
    with pytest.raises(UnknownFieldError) as err:
        set_field(son, "colour", "blue")
    message = str(err.value)
    assert message.startswith("unknown field 'colour'; known fields: acpi, apic, arch, boot")
    assert "memory" in message and "on_crash" in message


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("vcpu", "four", "not a whole number"),
        ("memory", "lots", "not a memory size"),
        (
            "on_reboot",
            "coredump-destroy",
            "on_reboot cannot be 'coredump-destroy'; allowed: destroy, restart, preserve, rename-restart",
        ),
        ("acpi", "maybe", "not a yes/no value"),
        ("uuid", "123", "not a UUID"),
    ],
)
def test_bad_values(son, field, value, match):
    with pytest.raises(InvalidValueError, match=match):
        set_field(son, field, value)


def test_parse_assignment():
    assert parse_assignment("memory=2GiB") == ("memory", "2GiB")
    assert parse_assignment("cmdline=a=b c") == ("cmdline", "a=b c")
    assert parse_assignment("title=") == ("title", "")
    with pytest.raises(InvalidValueError, match="not FIELD=VALUE"):
        parse_assignment("memory")
