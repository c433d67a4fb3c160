"""Admins publish ISOs to users: the toggle on the image library page and `published` in the images API."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from tests.support.people import make_user
from vms.choices import ImageFormat, ImageKind
from vms.models import Image

pytestmark = pytest.mark.django_db


@pytest.fixture
def iso(db):
    return Image.objects.create(name="rescue", kind=ImageKind.ISO, format=ImageFormat.ISO, size=2048, volume="r.iso")


def test_the_library_page_toggles_published(admin_user, iso):
    client = Client()
    client.force_login(admin_user)
    page = client.get("/manage/images/").content.decode()
    assert "Publish to users" in page
    response = client.post(f"/manage/images/{iso.pk}/publish/", {"published": "1"})
    assert response.status_code == 302
    iso.refresh_from_db()
    assert iso.published
    assert "Published: withdraw" in client.get("/manage/images/").content.decode()
    client.post(f"/manage/images/{iso.pk}/publish/", {"published": "0"})
    iso.refresh_from_db()
    assert not iso.published
    assert AuditEntry.objects.filter(action="image.publish").count() == 1
    assert AuditEntry.objects.filter(action="image.unpublish").count() == 1


def test_only_admins_publish_and_only_isos(admin_user, iso):
    user = make_user("pat")
    client = Client()
    client.force_login(user)
    assert client.post(f"/manage/images/{iso.pk}/publish/", {"published": "1"}).status_code == 403
    api = APIClient()
    api.force_authenticate(user)
    assert api.patch(f"/api/v1/images/{iso.pk}/", {"published": True}, format="json").status_code == 403
    iso.refresh_from_db()
    assert not iso.published

    api.force_authenticate(admin_user)
    response = api.patch(f"/api/v1/images/{iso.pk}/", {"published": True, "name": "renamed"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["published"] is True and response.json()["name"] == "rescue"  # only published changes
    base = Image.objects.create(name="base", kind=ImageKind.BASE, format=ImageFormat.QCOW2, size=1, volume="b.qcow2")
    response = api.patch(f"/api/v1/images/{base.pk}/", {"published": True}, format="json")
    assert response.status_code == 400 and "published" in response.json()
    base.refresh_from_db()
    assert not base.published
