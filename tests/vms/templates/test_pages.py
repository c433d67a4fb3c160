"""Staff pages for templates and images: forms go through the engine and the services."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.support.people import client_for
from tests.vms.templates.conftest import qemu_img
from vms.domainxml import Domain
from vms.forms import TemplateForm
from vms.models import Image, TemplateVersion, VMTemplate
from vms.services.templates import import_template

pytestmark = pytest.mark.django_db


def form_data(form: TemplateForm, **changes) -> dict:
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    data.update(changes)
    return {k: v for k, v in data.items() if v is not False}


def test_pages_are_staff_only(plain_user, son_xml, admin_user):
    template = import_template("son", son_xml, admin_user)
    client = client_for(plain_user)
    for url in [
        "/manage/templates/",
        "/manage/templates/new/",
        "/manage/templates/import/",
        f"/manage/templates/{template.pk}/",
        f"/manage/templates/{template.pk}/preview/",
        "/manage/images/",
    ]:
        assert client.get(url).status_code == 403, url  # logged in but not an admin: refused, no login loop


def test_create_from_scratch_then_edit_through_the_form(admin_user):
    client = client_for(admin_user)
    page = client.get("/manage/templates/new/")
    assert page.status_code == 200
    data = form_data(
        TemplateForm(),
        name="Small Linux",
        memory_mib=256,
        vcpus=1,
        graphics="none",
        network_kind="network",
        network_source="default",
    )
    r = client.post("/manage/templates/new/", data)
    assert r.status_code == 302, r.context["form"].errors if r.context else r
    template = VMTemplate.objects.get(name="Small Linux")
    dom = Domain.from_xml(template.domain_xml)
    assert dom.memory == 256 * 1024 and not dom.devices.graphics
    assert dom.current_memory == 256 * 1024  # it was all of the memory before, so it follows the memory
    assert dom.devices.interfaces[0].source_network == "default"
    assert template.version == 1

    edit = TemplateForm(instance=template)
    r = client.post(
        f"/manage/templates/{template.pk}/", form_data(edit, on_crash="restart", boot_menu="on", acpi=False)
    )
    assert r.status_code == 302
    template.refresh_from_db()
    dom = Domain.from_xml(template.domain_xml)
    assert template.version == 2 and dom.on_crash == "restart" and dom.os.bootmenu_enabled and not dom.features.acpi
    assert TemplateVersion.objects.filter(template=template).count() == 2
    assert "Small Linux" in client.get("/manage/templates/").content.decode()


def test_form_shows_engine_errors_on_the_field(admin_user, son_xml):
    template = import_template("son", son_xml, admin_user)
    client = client_for(admin_user)
    data = form_data(
        TemplateForm(instance=template), network_kind="bridge", network_source="", boot_mode="kernel", kernel=""
    )
    r = client.post(f"/manage/templates/{template.pk}/", data)
    assert r.status_code == 200
    errors = r.context["form"].errors
    assert "bridge" in errors["network_source"][0] and "kernel" in errors["kernel"][0]
    template.refresh_from_db()
    assert template.version == 1
    data = form_data(TemplateForm(instance=template), domain_xml="<domain>")
    r = client.post(f"/manage/templates/{template.pk}/", data)
    assert "not well-formed" in r.context["form"].errors["domain_xml"][0]


def test_form_keeps_and_sets_current_memory(admin_user, son_xml):
    template = import_template("son", son_xml, admin_user)  # 4 GiB maximum, 2 GiB current
    client = client_for(admin_user)

    def post(**changes):
        return client.post(f"/manage/templates/{template.pk}/", form_data(TemplateForm(instance=template), **changes))

    def memory() -> tuple[int, int, int]:
        template.refresh_from_db()
        dom = Domain.from_xml(template.domain_xml)
        return dom.memory // 1024, dom.current_memory // 1024, template.version

    form = TemplateForm(instance=template)
    assert (form.initial["memory_mib"], form.initial["current_memory_mib"]) == (4096, 2048)
    assert 'name="current_memory_mib" value="2048"' in client.get(f"/manage/templates/{template.pk}/").content.decode()
    assert post(on_crash="restart").status_code == 302
    assert memory() == (4096, 2048, 2)
    assert post(memory_mib=8192).status_code == 302
    assert memory() == (8192, 2048, 3)
    assert post(current_memory_mib=3072).status_code == 302
    assert memory() == (8192, 3072, 4)

    r = post(current_memory_mib=9000)
    assert r.status_code == 200
    assert r.context["form"].errors["current_memory_mib"] == [
        "The current memory (9000 MiB) cannot be more than the memory (8192 MiB)."
    ]
    assert "cannot be more than the memory" in r.content.decode()
    assert memory() == (8192, 3072, 4)
    # Emptied: the same as the memory.
    assert post(current_memory_mib="").status_code == 302
    assert memory() == (8192, 8192, 5)


def test_import_page(admin_user, son_xml):
    client = client_for(admin_user)
    r = client.post("/manage/templates/import/", {"name": "bad", "xml": "<domain"})
    assert r.status_code == 200 and "not well-formed" in r.context["form"].errors["xml"][0]
    upload = SimpleUploadedFile("son.xml", son_xml.encode())
    r = client.post("/manage/templates/import/", {"name": "son", "file": upload})
    assert r.status_code == 302
    assert VMTemplate.objects.get().name == "son"


@pytest.mark.sandbox
def test_preview_page_on_a_host(admin_user, son_xml, sandbox_host):
    template = import_template("son", son_xml, admin_user)
    client = client_for(admin_user)
    assert "adjustments" not in client.get(f"/manage/templates/{template.pk}/preview/").content.decode()
    page = client.get(f"/manage/templates/{template.pk}/preview/?host={sandbox_host.pk}").content.decode()
    assert "using &#x27;pc&#x27;" in page and "&lt;domain type=&quot;qemu&quot;&gt;" in page


def test_image_page_upload_and_refusal(admin_user, image_dir):
    client = client_for(admin_user)
    disk = image_dir / "t.qcow2"
    qemu_img("create", "-f", "qcow2", disk, "4M")
    r = client.post(
        "/manage/images/",
        {"name": "tiny", "kind": "base", "format": "qcow2", "file": SimpleUploadedFile("t.qcow2", disk.read_bytes())},
    )
    assert r.status_code == 302
    r = client.post(
        "/manage/images/",
        {"name": "t2", "kind": "iso", "format": "iso", "file": SimpleUploadedFile("t.qcow2", disk.read_bytes())},
    )
    assert r.status_code == 200 and "not iso" in r.context["form"].errors["format"][0]
    assert list(Image.objects.values_list("name", flat=True)) == ["tiny"]
    assert "image-" in client.get("/manage/images/").content.decode()
