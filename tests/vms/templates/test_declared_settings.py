"""A template's editable settings are declared once; the form, the API and the services are built from it."""

from __future__ import annotations

import pytest
from django.utils import translation

from vms.api.templates import TemplateSettingsSerializer, TemplateWriteSerializer
from vms.choices import BootMode
from vms.domainxml.template import BOOL, CHOICE, DEVICES, INT, SETTING, SETTING_NAMES, SETTINGS, TEXT, VOLUME
from vms.forms import BOOT_FIELDS, MODEL_FIELDS, TemplateForm
from vms.models import VMTemplate
from vms.services.templates import COLUMNS, EDITABLE_FIELDS, FROM_SETTINGS, LIMIT_FIELDS

pytestmark = pytest.mark.django_db


def form_names(setting) -> tuple[str, ...]:  # noqa: ANN001
    return BOOT_FIELDS if setting.kind == DEVICES else (setting.name,)


def test_the_form_has_one_field_per_declared_setting_and_column():
    form = TemplateForm()
    expected = [*MODEL_FIELDS, *(n for s in SETTINGS for n in form_names(s)), "domain_xml"]
    assert list(form.fields) == expected
    assert MODEL_FIELDS == tuple(c.name for c in COLUMNS if not c.from_setting)
    for setting in (*SETTINGS, *(c for c in COLUMNS if not c.from_setting)):
        field = form.fields[form_names(setting)[0]]
        assert str(field.label) == setting.label
        assert str(field.help_text) == setting.help
        if setting.kind == INT:
            assert field.min_value == (setting.form_min if setting.form_min is not None else setting.min)
            assert field.max_value == (setting.form_max if setting.form_max is not None else setting.max)
        if setting.kind == CHOICE:
            assert [v for v, _label in field.choices] == list(setting.values)
        if setting.kind in (BOOL, VOLUME):
            assert not field.required
        elif setting.kind != DEVICES:
            assert field.required == setting.required, setting.name


def test_the_api_has_one_field_per_declared_setting():
    fields = TemplateSettingsSerializer().fields
    assert tuple(fields) == SETTING_NAMES
    for setting in SETTINGS:
        field = fields[setting.name]
        assert not field.required, setting.name
        if setting.kind == INT:
            assert (field.min_value, field.max_value) == (setting.min, setting.max)
        elif setting.kind == CHOICE and setting.engine_checks:
            assert not hasattr(field, "choices")  # the engine refuses a wrong value, by setting name
        elif setting.kind == CHOICE:
            assert tuple(field.choices) == setting.values
        elif setting.kind == DEVICES:
            assert tuple(field.child.choices) == setting.values
        elif setting.kind in (TEXT, VOLUME):
            assert field.max_length == setting.max_length and field.allow_blank
    write = TemplateWriteSerializer().fields
    assert tuple(write) == (*EDITABLE_FIELDS, "domain_xml", "settings")


def test_the_columns_are_the_models_and_the_xml_holds_its_defaults():
    model_fields = {f.name for f in VMTemplate._meta.fields}
    assert set(EDITABLE_FIELDS) <= model_fields
    assert LIMIT_FIELDS == tuple(c.name for c in COLUMNS if c.versioned)
    assert FROM_SETTINGS == {"boot_mode": "boot_mode", "default_vcpus": "vcpus", "default_memory_mib": "memory_mib"}
    assert set(FROM_SETTINGS.values()) <= set(SETTING_NAMES)


def test_the_boot_modes_agree_with_the_models_choices():
    declared = SETTING["boot_mode"].choices
    assert [(v, str(label)) for v, label in BootMode.choices] == list(declared)


def test_declared_labels_are_translated_where_fields_are_built():
    with translation.override("vi"):
        label = str(TemplateForm().fields["current_memory_mib"].label)
        expected = translation.gettext(SETTING["current_memory_mib"].label)
    assert label == expected != SETTING["current_memory_mib"].label
