"""REST API: only admins manage templates and images; users read active templates; adopt discovered VMs."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.vms.templates.conftest import qemu_img
from vms.choices import VMState
from vms.models import Image, ImageCopy, VirtualMachine, VMTemplate
from vms.services.templates import import_template

pytestmark = pytest.mark.django_db


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_template_crud_is_for_admins_reading_for_users(son_xml, admin_user, plain_user):
    admin, user, anon = client_for(admin_user), client_for(plain_user), client_for()
    r = admin.post("/api/v1/templates/import/", {"name": "son", "xml": son_xml}, format="json")
    assert r.status_code == 201, r.content
    tid = r.json()["id"]
    assert r.json()["version"] == 1 and r.json()["notes"]
    retired = import_template("old", son_xml, admin_user)
    retired.active = False
    retired.save()

    listed = user.get("/api/v1/templates/").json()
    assert [t["name"] for t in listed] == ["son"] and "domain_xml" not in listed[0]
    assert {t["name"] for t in admin.get("/api/v1/templates/").json()} == {"son", "old"}

    for method, url, body in [
        ("post", "/api/v1/templates/", {"name": "x", "domain_xml": son_xml}),
        ("post", "/api/v1/templates/import/", {"name": "x", "xml": son_xml}),
        ("put", f"/api/v1/templates/{tid}/", {"name": "y"}),
        ("patch", f"/api/v1/templates/{tid}/", {"max_vcpus": 8}),
        ("delete", f"/api/v1/templates/{tid}/", None),
    ]:
        assert getattr(user, method)(url, body, format="json").status_code == 403
        assert getattr(anon, method)(url, body, format="json").status_code in (401, 403)
    assert anon.get("/api/v1/templates/").status_code in (401, 403)

    r = admin.patch(
        f"/api/v1/templates/{tid}/", {"settings": {"vcpus": 2, "graphics": "none"}, "max_vcpus": 8}, format="json"
    )
    assert r.status_code == 200, r.content
    assert (r.json()["version"], r.json()["default_vcpus"], r.json()["settings"]["graphics"]) == (2, 2, "none")
    versions = admin.get(f"/api/v1/templates/{tid}/versions/").json()
    assert [v["version"] for v in versions] == [2, 1]

    r = admin.patch(f"/api/v1/templates/{tid}/", {"settings": {"on_crash": "explode"}}, format="json")
    assert r.status_code == 400 and "explode" in r.json()["on_crash"][0]
    assert admin.delete(f"/api/v1/templates/{tid}/").status_code == 204


def test_current_memory_through_the_api(son_xml, admin_user):
    admin = client_for(admin_user)
    r = admin.post("/api/v1/templates/import/", {"name": "son", "xml": son_xml}, format="json")
    url = f"/api/v1/templates/{r.json()['id']}/"

    def memory(response) -> tuple[int, int, int]:
        assert response.status_code == 200, response.content
        body = response.json()
        return body["settings"]["memory_mib"], body["settings"]["current_memory_mib"], body["version"]

    assert memory(admin.get(url)) == (4096, 2048, 1)
    # Editing another setting, or only the maximum, keeps the current memory below it.
    assert memory(admin.patch(url, {"settings": {"vcpus": 2}}, format="json")) == (4096, 2048, 2)
    assert memory(admin.patch(url, {"settings": {"memory_mib": 8192}}, format="json")) == (8192, 2048, 3)
    assert memory(admin.patch(url, {"settings": {"current_memory_mib": 3072}}, format="json")) == (8192, 3072, 4)
    r = admin.patch(url, {"settings": {"current_memory_mib": 9000}}, format="json")
    assert r.status_code == 400
    assert r.json() == {
        "current_memory_mib": ["The current memory (9000 MiB) cannot be more than the memory (8192 MiB)."]
    }
    assert memory(admin.get(url)) == (8192, 3072, 4)
    template = VMTemplate.objects.get()
    assert (template.version, template.default_memory_mib) == (4, 8192)


def test_import_errors_are_json_sentences(admin_user):
    r = client_for(admin_user).post("/api/v1/templates/import/", {"name": "bad", "xml": "<domain>"}, format="json")
    assert r.status_code == 400 and "not well-formed XML" in r.json()["xml"][0]
    assert not VMTemplate.objects.exists()


def test_import_by_file_upload(son_xml, admin_user):
    upload = SimpleUploadedFile("son.xml", son_xml.encode(), content_type="application/xml")
    r = client_for(admin_user).post("/api/v1/templates/import/", {"name": "son", "file": upload}, format="multipart")
    assert r.status_code == 201, r.content


@pytest.mark.sandbox
def test_preview_endpoint(son_xml, admin_user, plain_user, sandbox_host):
    template = import_template("son", son_xml, admin_user)
    url = f"/api/v1/templates/{template.pk}/preview/?host={sandbox_host.pk}"
    r = client_for(admin_user).get(url)
    assert r.status_code == 200, r.content
    assert r.json()["xml"].startswith('<domain type="qemu"') and r.json()["adjustments"]
    assert client_for(plain_user).get(url).status_code == 403
    assert client_for(admin_user).get(f"/api/v1/templates/{template.pk}/preview/").status_code == 400


def test_images_are_for_admins_only(image_dir, admin_user, plain_user, sandbox_uris):
    from vms.services.hosts import add_host

    host = add_host("later", "qemu+tcp://127.0.0.1:1/system", require_reachable=False)
    disk = image_dir / "t.qcow2"
    qemu_img("create", "-f", "qcow2", disk, "4M")

    def form():
        return {
            "name": "tiny",
            "kind": "base",
            "format": "qcow2",
            "file": SimpleUploadedFile("t.qcow2", disk.read_bytes()),
        }

    assert client_for(plain_user).post("/api/v1/images/", form(), format="multipart").status_code == 403
    assert client_for().post("/api/v1/images/", form(), format="multipart").status_code in (401, 403)
    assert client_for(plain_user).get("/api/v1/images/").status_code == 403
    admin = client_for(admin_user)
    r = admin.post("/api/v1/images/", {**form(), "hosts": [host.pk]}, format="multipart")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["copies"][0]["state"] == "pending" and body["jobs"][0]["kind"] == "image.copy"
    # A second copy while the first is queued is refused with the reason.
    r = admin.post(f"/api/v1/images/{body['id']}/copy/", {"hosts": [host.pk]}, format="json")
    assert r.status_code == 409 and "still running" in r.json()["detail"] and r.json()["code"] == "conflict"
    assert (
        client_for(plain_user)
        .post(f"/api/v1/images/{body['id']}/copy/", {"hosts": [host.pk]}, format="json")
        .status_code
        == 403
    )
    bad = {**form(), "name": "bad", "format": "raw", "kind": "base"}
    r = admin.post("/api/v1/images/", bad, format="multipart")
    assert r.status_code == 400 and "qcow2" in r.json()["format"][0]
    assert Image.objects.count() == 1 and ImageCopy.objects.count() == 1
    assert client_for(plain_user).delete(f"/api/v1/images/{body['id']}/").status_code == 403
    assert admin.delete(f"/api/v1/images/{body['id']}/").status_code == 204


def test_adopt_and_forget_discovered_vms(admin_user, plain_user):
    from vms.services.hosts import add_host

    host = add_host("h", "test:///default")
    found = VirtualMachine.objects.create(name="legacy", host=host, managed=False, state=VMState.RUNNING)
    ours = VirtualMachine.objects.create(name="ours", host=host, managed=True, state=VMState.RUNNING)
    assert (
        client_for(plain_user).post(f"/api/v1/vms/{found.pk}/adopt/", {"owner": "carol"}, format="json").status_code
        == 403
    )
    admin = client_for(admin_user)
    r = admin.post(f"/api/v1/vms/{found.pk}/adopt/", {"owner": "nobody"}, format="json")
    assert r.status_code == 400 and "no user named 'nobody'" in r.json()["owner"][0]
    r = admin.post(f"/api/v1/vms/{ours.pk}/adopt/", {"owner": "carol"}, format="json")
    assert r.status_code == 400 and "only discovered VMs" in r.json()["vm"][0]
    r = admin.post(f"/api/v1/vms/{found.pk}/adopt/", {"owner": "carol"}, format="json")
    assert r.status_code == 200 and r.json()["owner"] == "carol" and r.json()["managed"] is False
    found.refresh_from_db()
    assert found.owner == plain_user and not found.managed
    r = admin.post(f"/api/v1/vms/{found.pk}/forget/", format="json")
    assert r.status_code == 200 and r.json()["state"] == VMState.DELETED
    found.refresh_from_db()
    assert found.state == VMState.DELETED and found.owner is None
