"""Issue 13, hole 6: every change to hosts, templates, images and discovered VMs is audited, whichever door
it comes through (API, pages, commands): the services record it, once, in the change's transaction."""

from __future__ import annotations

import io
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from audit.models import AuditEntry
from tests.support.people import client_for
from vms.choices import VMState
from vms.models import Host, Image, VirtualMachine, VMTemplate

pytestmark = pytest.mark.django_db

MINIMAL_XML = (
    "<domain type='qemu'><name>x</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
    "<os><type arch='x86_64'>hvm</type></os></domain>"
)


def entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


def test_host_changes_through_the_api_are_audited(admin):
    api = client_for(admin)
    made = api.post(
        "/api/v1/hosts/",
        {"name": "kvm-x", "uri": "test:///default", "require_reachable": False},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    host_id = made.json()["id"]
    changed = api.patch(f"/api/v1/hosts/{host_id}/", {"notes": "rack 4"}, content_type="application/json")
    assert changed.status_code == 200, changed.content
    assert api.delete(f"/api/v1/hosts/{host_id}/").status_code == 204

    (add,) = entries("host.add")
    (update,) = entries("host.update")
    (delete,) = entries("host.delete")
    assert (add.actor, add.object_type, add.object_id, add.object_name) == (admin, "host", str(host_id), "kvm-x")
    assert update.details["fields"] == {"notes": "rack 4"}
    assert delete.actor == admin and not Host.objects.filter(pk=host_id).exists()


def test_a_refused_host_delete_leaves_no_entry(admin, host, alice):
    VirtualMachine.objects.create(name="v", owner=alice, host=host, vcpus=1, memory_mib=128, disk_gib=1)
    assert client_for(admin).delete(f"/api/v1/hosts/{host.pk}/").status_code == 409
    assert entries("host.delete") == []


def test_the_hosts_command_is_audited():
    call_command("hosts", "add", "kvm-cli", "test:///default", "--offline", stdout=io.StringIO())
    (entry,) = entries("host.add")
    assert entry.object_name == "kvm-cli" and entry.actor is None
    assert entry.details["via"] == "manage.py hosts add"


def test_the_import_template_command_is_audited(tmp_path):
    xml = tmp_path / "x.xml"
    xml.write_text(MINIMAL_XML)
    call_command("import_template", str(xml), "--name", "from-cli", stdout=io.StringIO(), stderr=io.StringIO())
    (entry,) = entries("template.create")
    assert entry.object_name == "from-cli" and entry.details["via"] == "manage.py import_template"


def test_template_changes_through_the_api_and_the_pages_are_audited(admin):
    api = client_for(admin)
    made = api.post("/api/v1/templates/import/", {"name": "t-api", "xml": MINIMAL_XML}, content_type="application/json")
    assert made.status_code == 201, made.content
    template_id = made.json()["id"]
    changed = api.patch(
        f"/api/v1/templates/{template_id}/", {"description": "for tests"}, content_type="application/json"
    )
    assert changed.status_code == 200, changed.content
    assert api.delete(f"/api/v1/templates/{template_id}/").status_code == 204
    page = api.post("/manage/templates/import/", {"name": "t-page", "xml": MINIMAL_XML})
    assert page.status_code == 302

    created = entries("template.create")
    assert [e.object_name for e in created] == ["t-api", "t-page"] and {e.actor for e in created} == {admin}
    (update,) = entries("template.update")
    assert update.details["fields"] == ["description"]
    (delete,) = entries("template.delete")
    assert delete.object_id == str(template_id) and not VMTemplate.objects.filter(pk=template_id).exists()


def test_image_upload_copy_and_delete_are_audited(admin, host, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    disk = tmp_path / "t.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(disk), "4M"], check=True, capture_output=True)
    api = client_for(admin)
    page = api.post(
        "/manage/images/",
        {"name": "tiny", "kind": "base", "format": "qcow2", "file": SimpleUploadedFile("t.qcow2", disk.read_bytes())},
    )
    assert page.status_code == 302
    image = Image.objects.get(name="tiny")
    copied = api.post(f"/api/v1/images/{image.pk}/copy/", {"hosts": [host.pk]}, content_type="application/json")
    assert copied.status_code == 202, copied.content
    assert api.delete(f"/api/v1/images/{image.pk}/").status_code == 204

    (upload,) = entries("image.upload")
    (copy,) = entries("image.copy")
    (delete,) = entries("image.delete")
    assert upload.actor == copy.actor == delete.actor == admin
    assert upload.details["format"] == "qcow2" and copy.details["hosts"] == [host.pk]
    assert delete.object_name == "tiny"


def test_adopt_and_forget_are_audited(admin, alice, host):
    found = [
        VirtualMachine.objects.create(
            name=f"found-{i}", host=host, state=VMState.RUNNING, managed=False, vcpus=1, memory_mib=128, disk_gib=1
        )
        for i in (1, 2)
    ]
    api = client_for(admin)
    adopted = api.post(f"/api/v1/vms/{found[0].pk}/adopt/", {"owner": "alice"}, content_type="application/json")
    assert adopted.status_code == 200, adopted.content
    assert api.post(f"/api/v1/vms/{found[1].pk}/forget/").status_code == 200

    (adopt,) = entries("vm.adopt")
    (forget,) = entries("vm.forget")
    assert (adopt.actor, adopt.object_name, adopt.details["owner"]) == (admin, "found-1", "alice")
    assert (forget.actor, forget.object_name) == (admin, "found-2")
