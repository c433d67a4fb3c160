"""The staff pages for images and templates, server-rendered (issue 19): usable at fleet size, dangerous
buttons ask first, forms through the shared components. Database rows only, no libvirt."""

from __future__ import annotations

import re

import pytest

from jobs.models import Job
from tests.support.people import client_for, fake_host
from vms.choices import CopyState
from vms.models import Image, ImageCopy, ImageFormat, ImageKind, TemplateVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(db):
    return [fake_host(f"rack-{i:02d}", f"test:///fleet{i}") for i in range(40)]


@pytest.fixture
def images(fleet):
    base = Image.objects.create(
        name="debian-12",
        kind=ImageKind.BASE,
        format=ImageFormat.QCOW2,
        size=4 * 2**20,
        virtual_size=2 * 2**30,
        volume="image-debian-12.qcow2",
    )
    iso = Image.objects.create(
        name="installer", kind=ImageKind.ISO, format=ImageFormat.ISO, size=700 * 2**20, volume="image-installer.iso"
    )
    for host in fleet[:3]:
        ImageCopy.objects.create(image=base, host=host, volume=base.volume, state=CopyState.READY, progress=100)
    ImageCopy.objects.create(image=base, host=fleet[3], volume=base.volume, state=CopyState.FAILED, error="disk full")
    return base, iso


def test_image_page_is_one_compact_row_per_image(admin, fleet, images):
    base, iso = images
    page = client_for(admin).get("/manage/images/").content.decode()
    assert '<table class="data" data-table id="images">' in page and 'data-table-search="images"' in page
    row = re.search(rf'<tr data-image="{base.pk}">.*?</tr>', page, re.S).group(0)
    assert "ready on 3 of 40 hosts" in row
    assert "rack-00, rack-01, rack-02" in row  # the hosts that have it, in one line
    assert "rack-03" in row and "disk full" in row  # the failed copy gets its own line
    assert "4 MiB" in row and "2 GiB" in row
    # One copy form per image, posting `hosts` to the endpoint it always had, folded away in a disclosure.
    copy_form = re.search(r"<details data-copy-to.*?</details>", row, re.S).group(0)
    assert f'action="/manage/images/{base.pk}/copy/"' in copy_form
    assert copy_form.count('name="hosts"') == 40
    assert (
        copy_form.count("has a copy</small>") == 40
        and copy_form.count("has a copy</small>") - copy_form.count("hidden>has a copy") == 3
    )
    delete_form = re.search(rf'<form method="post" action="/manage/images/{base.pk}/delete/"[^>]*>', row).group(0)
    assert "data-confirm=" in delete_form
    # The dialog that JS opens instead; its list filters.
    assert '<dialog class="copy-dialog" id="copy-dialog"' in page and "js/image_copy.js" in page
    assert 'data-title-template="Copy %(name)s to hosts"' in page  # image_copy.js puts the name in


def test_upload_form_names_its_host_list_before_the_boxes(admin, fleet):
    page = client_for(admin).get("/manage/images/").content.decode()
    upload = page[page.index('enctype="multipart/form-data"') :]
    assert upload.index("Copy to hosts</legend>") < upload.index('name="hosts"')
    assert 'id="id_hosts_0"' in upload  # where the error summary links to
    assert 'class="field' in upload  # the shared field component


def test_copy_and_delete_endpoints_still_work(admin, fleet, images):
    # A django_db test never commits: the queued jobs are rows, and no task is ever sent.
    base, iso = images
    client = client_for(admin)
    response = client.post(f"/manage/images/{iso.pk}/copy/", {"hosts": [fleet[5].pk, fleet[6].pk]})
    assert response.status_code == 302
    assert Job.objects.filter(kind="image.copy").count() == 2
    assert client.post(f"/manage/images/{iso.pk}/copy/", {}).status_code == 302  # none chosen: a message
    assert client.post(f"/manage/images/{base.pk}/delete/").status_code == 302
    assert not Image.objects.filter(pk=base.pk).exists()


def test_template_pages_use_the_shared_components(admin, template):
    client = client_for(admin)
    listing = client.get("/manage/templates/").content.decode()
    assert 'data-table id="templates"' in listing and "table-wrap" in listing
    assert "vCPUs, up to" in listing or "vCPU, up to" in listing
    assert "MiB /" not in listing and " / " not in re.sub(r"<[^>]+>", "", listing.split("<tbody>")[1])
    TemplateVersion.objects.get_or_create(
        template=template, version=template.version, defaults={"domain_xml": template.domain_xml, "created_by": admin}
    )
    form = client.get(f"/manage/templates/{template.pk}/").content.decode()
    assert '<div class="check-row"><input type="checkbox" name="active"' in form  # box first, then its label
    assert "<time" in form  # versions: when they were saved, through `when`
    error = client.post(f"/manage/templates/{template.pk}/", {"name": ""}).content.decode()
    assert 'class="error-summary"' in error
    imported = client.post("/manage/templates/import/", {"name": "x"}).content.decode()
    assert 'class="error-summary"' in imported
