"""Templates: import from XML, typed edits, versions, previews adapted to real sandbox hosts."""

from __future__ import annotations

import io

import libvirt
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from lxml import etree

from vms.choices import DiskSource
from vms.domainxml import Domain, is_valid
from vms.domainxml.template import PLACEHOLDER_NAME, read_settings
from vms.hypervisor.connection import open_connection
from vms.models import TemplateVersion, VMTemplate
from vms.services.template_preview import preview
from vms.services.templates import apply_settings, import_template, update_template

pytestmark = pytest.mark.django_db


def test_import_son_removes_per_vm_parts_and_keeps_the_rest(son_xml, admin_user):
    template = import_template("CentOS desktop", son_xml, admin_user)
    dom = Domain.from_xml(template.domain_xml)
    root = dom.element
    assert dom.name == PLACEHOLDER_NAME and dom.uuid is None
    assert root.find("uuid") is None
    assert not root.findall(".//mac")
    assert not root.findall(".//address")
    assert all(d.source is None for d in dom.devices.disks)
    # Everything else is kept as it was.
    assert dom.type == "kvm" and dom.os.machine == "pc-i440fx-rhel7.0.0"
    assert dom.devices.graphics[0].type == "spice" and dom.devices.interfaces[0].source_bridge == "br0"
    assert dom.cpu.model == "SandyBridge" and dom.clock.timer("hpet").present is False
    assert len(dom.devices.controllers) == 7 and len(dom.devices.redirdevs) == 2
    assert is_valid(template.domain_xml)
    # The limits come from the XML; version 1 is kept.
    assert (template.default_vcpus, template.default_memory_mib, template.version) == (5, 4096, 1)
    assert template.max_vcpus >= 5 and template.disk_source == DiskSource.EMPTY and template.disk_format == "raw"
    assert TemplateVersion.objects.get(template=template, version=1).domain_xml == template.domain_xml
    assert any("MAC" in note for note in template.import_notes)


@pytest.mark.parametrize(
    "xml,words",
    [
        ("<domain type='kvm'><name>x</name>", "not well-formed XML (line 1)"),
        ("<network><name>x</name></network>", "root element must be <domain>"),
        ("", "empty"),
    ],
)
def test_malformed_xml_is_refused_with_one_message(xml, words, admin_user):
    with pytest.raises(ValidationError) as info:
        import_template("bad", xml, admin_user)
    messages = info.value.message_dict["xml"]
    assert len(messages) == 1 and words in messages[0]
    assert not VMTemplate.objects.exists() and not TemplateVersion.objects.exists()


def test_schema_invalid_xml_names_the_element(son_xml, admin_user):
    bad = son_xml.replace("bus='virtio'/>", "bus='floppy-ish'/>", 1)
    with pytest.raises(ValidationError) as info:
        import_template("bad", bad, admin_user)
    (message,) = info.value.message_dict["xml"]
    assert "/domain/devices/disk[1]/target (line 35)" in message and "floppy-ish" in message
    assert not VMTemplate.objects.exists()


def test_command_imports_and_refuses_in_one_line(tmp_path, son_xml, capsys, monkeypatch):
    good = tmp_path / "son.xml"
    good.write_text(son_xml)
    call_command("import_template", str(good), "--name", "son")
    assert "Imported template 'son'" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"<domain><name>")))
    with pytest.raises(CommandError) as info:
        call_command("import_template", "-", "--name", "broken")
    assert info.value.returncode == 2 and "\n" not in str(info.value)
    assert "not well-formed" in str(info.value)
    assert list(VMTemplate.objects.values_list("name", flat=True)) == ["son"]


def test_edit_bumps_version_and_keeps_the_old_one(son_xml, admin_user):
    template = import_template("son", son_xml, admin_user)
    old_xml = template.domain_xml
    edited = update_template(
        template, admin_user, settings={"memory_mib": 1024, "graphics": "vnc", "network_kind": "user"}, max_disk_gib=20
    )
    assert edited.version == 2 and edited.default_memory_mib == 1024 and edited.max_disk_gib == 20
    settings = read_settings(edited.domain_xml)
    assert settings["graphics"] == "vnc" and settings["network_kind"] == "user"
    # SPICE-only devices went with SPICE.
    assert not Domain.from_xml(edited.domain_xml).devices.redirdevs
    v1, v2 = TemplateVersion.objects.filter(template=template).order_by("version")
    assert (v1.version, v1.domain_xml, v1.limits["max_disk_gib"]) == (1, old_xml, 100)
    assert (v2.version, v2.limits["max_disk_gib"], v2.created_by) == (2, 20, admin_user)
    # Renaming alone is not a new version of what VMs get.
    assert update_template(edited, admin_user, name="son 2").version == 2
    # Nothing changed: no new version.
    assert update_template(edited, admin_user).version == 2


def test_engine_errors_land_on_the_right_field(son_xml, admin_user):
    template = import_template("son", son_xml, admin_user)
    with pytest.raises(ValidationError) as info:
        apply_settings(
            template.domain_xml,
            {
                "on_crash": "explode",
                "network_kind": "bridge",
                "network_source": "",
                "boot_mode": "kernel",
                "kernel": "",
            },
        )
    errors = info.value.message_dict
    assert "explode" in errors["on_crash"][0]
    assert "bridge" in errors["network_source"][0]
    assert "kernel" in errors["kernel"][0]
    with pytest.raises(ValidationError) as info:
        update_template(template, admin_user, max_vcpus=2)
    assert "maximum cannot be below" in info.value.message_dict["max_vcpus"][0]
    template.refresh_from_db()
    assert template.version == 1


def test_kernel_boot_settings(son_xml, admin_user):
    template = import_template("son", son_xml, admin_user)
    xml = apply_settings(
        template.domain_xml,
        {
            "boot_mode": "kernel",
            "kernel": "/boot/vmlinuz",
            "initrd": "/boot/initrd",
            "cmdline": "console=ttyS0 root=/dev/vda",
        },
    )
    dom = Domain.from_xml(xml)
    assert (dom.os.kernel, dom.os.cmdline, dom.os.boot_devices) == ("/boot/vmlinuz", "console=ttyS0 root=/dev/vda", [])
    assert is_valid(xml)
    back = Domain.from_xml(apply_settings(xml, {"boot_mode": "bios", "boot_order": ["hd", "network"]}))
    assert back.os.kernel is None and back.os.boot_devices == ["hd", "network"]


def test_user_strings_stay_values(son_xml, admin_user):
    template = import_template("son", son_xml, admin_user)
    xml = apply_settings(
        template.domain_xml, {"network_kind": "network", "network_source": "x'/><evil/>", "cmdline": "a </cmdline><b>"}
    )
    root = etree.fromstring(xml.encode())
    assert root.find(".//evil") is None and root.find(".//interface/source").get("network") == "x'/><evil/>"


def memory_mib(xml: str) -> tuple[int, int]:
    """(<memory>, <currentMemory>) in MiB."""
    dom = Domain.from_xml(xml)
    return dom.memory // 1024, dom.current_memory // 1024


def test_current_memory_below_the_maximum_survives_edits(son_xml, admin_user):
    template = import_template("son", son_xml, admin_user)  # 4 GiB maximum, 2 GiB current, a balloon
    assert memory_mib(template.domain_xml) == (4096, 2048)
    settings = read_settings(template.domain_xml)
    assert (settings["memory_mib"], settings["current_memory_mib"]) == (4096, 2048)
    # Another field, with the memory sent again unchanged (as the form does): current memory is kept.
    edited = update_template(template, admin_user, settings={"memory_mib": 4096, "graphics": "vnc"})
    assert edited.version == 2 and memory_mib(edited.domain_xml) == (4096, 2048)
    # A larger maximum keeps the current memory below it.
    edited = update_template(edited, admin_user, settings={"memory_mib": 8192})
    assert memory_mib(edited.domain_xml) == (8192, 2048)
    assert (edited.version, edited.default_memory_mib) == (3, 8192)
    # A maximum below the current memory lowers it to the maximum.
    edited = update_template(edited, admin_user, settings={"memory_mib": 1024})
    assert memory_mib(edited.domain_xml) == (1024, 1024) and edited.default_memory_mib == 1024


def test_current_memory_equal_to_the_maximum_follows_it(son_xml, admin_user):
    template = import_template("son", son_xml, admin_user)
    xml = apply_settings(template.domain_xml, {"current_memory_mib": 4096})
    assert memory_mib(xml) == (4096, 4096)
    assert memory_mib(apply_settings(xml, {"memory_mib": 6144})) == (6144, 6144)  # no balloon gap appears
    dom = Domain.from_xml(xml)
    dom.current_memory = None  # libvirt then boots the guest with all of its memory
    no_current = dom.to_xml()
    assert read_settings(no_current)["current_memory_mib"] == 4096
    assert memory_mib(apply_settings(no_current, {"memory_mib": 512})) == (512, 512)


def test_current_memory_is_its_own_setting(son_xml, admin_user):
    template = import_template("son", son_xml, admin_user)
    edited = update_template(template, admin_user, settings={"current_memory_mib": 3072})
    assert memory_mib(edited.domain_xml) == (4096, 3072) and edited.version == 2
    assert read_settings(edited.domain_xml)["current_memory_mib"] == 3072
    both = update_template(edited, admin_user, settings={"memory_mib": 8192, "current_memory_mib": 6144})
    assert memory_mib(both.domain_xml) == (8192, 6144) and both.default_memory_mib == 8192
    assert is_valid(both.domain_xml)


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"current_memory_mib": 4097}, "The current memory (4097 MiB) cannot be more than the memory (4096 MiB)."),
        (
            {"memory_mib": 2048, "current_memory_mib": 3072},
            "The current memory (3072 MiB) cannot be more than the memory (2048 MiB).",
        ),
    ],
)
def test_current_memory_above_the_maximum_is_refused(son_xml, admin_user, settings, message):
    template = import_template("son", son_xml, admin_user)
    with pytest.raises(ValidationError) as info:
        update_template(template, admin_user, settings=settings)
    assert info.value.message_dict == {"current_memory_mib": [message]}
    template.refresh_from_db()
    assert template.version == 1 and memory_mib(template.domain_xml) == (4096, 2048)
    assert TemplateVersion.objects.filter(template=template).count() == 1


@pytest.mark.sandbox
def test_preview_adapts_son_to_a_sandbox_host_and_libvirt_accepts_it(son_xml, admin_user, sandbox_host):
    template = import_template("son", son_xml, admin_user)
    xml, adjustments = preview(template, sandbox_host)
    text = "\n".join(adjustments)
    assert "software emulation (domain type 'qemu')" in text
    assert "Machine type 'pc-i440fx-rhel7.0.0' is not offered by this host; using 'pc'" in text
    assert "does not exist on this host yet" not in text and "Each VM gets its own raw disk volume" in text
    dom = Domain.from_xml(xml)
    assert dom.type == "qemu" and dom.os.machine == "pc"
    assert dom.devices.emulator == "/usr/bin/qemu-system-x86_64"
    conn = open_connection(sandbox_host.uri)
    try:
        defined = conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        try:
            assert defined.name() == "template-preview"
        finally:
            defined.undefine()
    finally:
        conn.close()


@pytest.mark.sandbox
def test_preview_of_an_unreachable_host_says_so(son_xml, admin_user):
    from vms.services.hosts import add_host

    host = add_host("gone", "qemu+tcp://127.0.0.1:1/system", require_reachable=False)
    template = import_template("son", son_xml, admin_user)
    with pytest.raises(ValidationError) as info:
        preview(template, host)
    assert "Could not connect" in info.value.message_dict["host"][0]
