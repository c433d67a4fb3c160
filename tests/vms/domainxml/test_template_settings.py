"""A template's typed settings (vms.domainxml.template): one declaration, read and applied without Django."""

from __future__ import annotations

import dataclasses

import pytest

from vms.domainxml import Domain, is_valid
from vms.domainxml.template import (
    BOOL,
    CHOICE,
    DEVICES,
    INT,
    SETTING_NAMES,
    SETTINGS,
    SettingError,
    SettingsError,
    TemplateSettings,
    apply_settings,
    blank_domain_xml,
    read_settings,
)

from .helpers import SEED


def test_the_declaration_is_the_only_list_of_settings():
    assert len(SETTING_NAMES) == len(set(SETTING_NAMES)) == len(SETTINGS)
    assert tuple(f.name for f in dataclasses.fields(TemplateSettings)) == SETTING_NAMES
    for xml in (blank_domain_xml(), SEED.read_text()):
        assert tuple(read_settings(xml)) == SETTING_NAMES
    for setting in SETTINGS:
        assert setting.label, f"{setting.name} has no label"
        if setting.kind in (CHOICE, DEVICES):
            assert setting.choices and len(set(setting.values)) == len(setting.values), setting.name
        if setting.kind == INT:
            assert setting.min is not None, setting.name


@pytest.mark.parametrize("xml", [blank_domain_xml(), SEED.read_text()], ids=["blank", "son"])
def test_what_is_read_is_what_the_declaration_allows(xml):
    values = read_settings(xml)
    for setting in SETTINGS:
        value = values[setting.name]
        if setting.kind == CHOICE:
            assert value in setting.values, setting.name
        elif setting.kind == DEVICES:
            assert set(value) <= set(setting.values), setting.name
        elif setting.kind == BOOL:
            assert isinstance(value, bool), setting.name
        elif setting.kind == INT:
            assert isinstance(value, int) and value >= setting.min, setting.name


def test_reading_then_applying_changes_nothing():
    xml = blank_domain_xml()
    assert apply_settings(xml, read_settings(xml)) == xml
    assert apply_settings(xml, TemplateSettings()) == xml


def test_refusals_name_each_setting_in_english_with_their_parameters():
    with pytest.raises(SettingsError) as info:
        apply_settings(
            blank_domain_xml(),
            {"current_memory_mib": 9000, "graphics": "rdp", "on_crash": "explode", "boot_mode": "kernel"},
        )
    errors = info.value.errors
    assert set(errors) == {"current_memory_mib", "graphics", "on_crash", "kernel"}
    memory = errors["current_memory_mib"]
    assert isinstance(memory, SettingError)
    assert memory.message == "The current memory (%(current)d MiB) cannot be more than the memory (%(max)d MiB)."
    assert memory.params == {"current": 9000, "max": 512}
    assert str(memory) == "The current memory (9000 MiB) cannot be more than the memory (512 MiB)."
    assert str(errors["graphics"]) == "Choose one of: none, vnc, spice."
    assert "explode" in str(errors["on_crash"])  # the engine's own check, per lifecycle event


def test_applied_settings_give_valid_xml():
    xml = apply_settings(
        SEED.read_text(),
        {"network_kind": "network", "network_source": "default", "graphics": "vnc", "disk_bus": "sata"},
    )
    dom = Domain.from_xml(xml)
    assert dom.devices.interfaces[0].source_network == "default" and not dom.devices.redirdevs
    assert read_settings(xml)["disk_bus"] == "sata" and is_valid(xml)
