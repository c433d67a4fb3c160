"""The VM page and the Images and ISOs page in a real browser (issue 19): the copy dialog, the delete that
asks for the VM's name, and no sideways scrolling on a phone. Hosts with test:/// URIs: no sandbox needed."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from jobs.models import Job
from tests.browser.support import PASSWORD, sideways_overflow
from vms.choices import VMState
from vms.models import Host, Image, ImageCopy, ImageFormat, ImageKind, VirtualMachine

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLAIN_XML = (
    "<domain><devices><serial type='pty'/>"
    "<interface type='network'><source network='default'/></interface></devices></domain>"
)


def session_cookie(user, url: str) -> dict:
    """Logged in without the login page (tests/browser/test_pages.py covers that)."""
    client = Client()
    client.force_login(user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": url,
    }


def test_copy_dialog_typed_name_delete_and_phone_width(browser, web_server, output_dir):
    chief = get_user_model().objects.create_superuser("chief", "chief@example.org", PASSWORD)
    hosts = [Host.objects.create(name=f"rack-{i:02d}", uri=f"test:///rack{i}", online=True) for i in range(30)]
    vm = VirtualMachine.objects.create(
        name="web-frontend-01", host=hosts[0], state=VMState.RUNNING, vcpus=1, memory_mib=2048, disk_gib=20,
        domain_xml=PLAIN_XML,
    )  # fmt: skip
    image = Image.objects.create(
        name="debian-12-generic-amd64",
        kind=ImageKind.BASE,
        format=ImageFormat.QCOW2,
        size=2**30,
        volume="image-d.qcow2",
    )

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.add_cookies([session_cookie(chief, web_server.url)])
    page = context.new_page()

    # Copy to…: one dialog, its host list filtered by typing, one host ticked.
    page.goto(f"{web_server.url}/manage/images/")
    assert page.locator("details[data-copy-to]").count() == 0  # JS replaced the disclosures
    page.get_by_role("button", name="Copy to…").click()
    dialog = page.locator("#copy-dialog")
    assert dialog.is_visible()
    dialog.locator("[data-host-filter]").fill("rack-1")
    assert dialog.locator(".host-choice:visible").count() == 10  # rack-10 … rack-19
    assert dialog.locator("button[type=submit]").is_disabled()  # nothing ticked yet
    dialog.get_by_label("rack-12").check()
    page.screenshot(path=str(output_dir / "40-image-copy-dialog.png"))
    dialog.locator("button[type=submit]").click()
    page.wait_for_selector(".messages")
    assert "1 copy job queued for 'debian-12-generic-amd64'." in page.locator(".messages").inner_text()
    assert list(ImageCopy.objects.filter(image=image).values_list("host__name", flat=True)) == ["rack-12"]

    # Delete asks for the VM's name; a wrong name cannot confirm.
    page.goto(f"{web_server.url}/vms/{vm.uuid}/")
    assert page.locator("#no-graphics").is_visible()  # no display in its XML: said, not linked
    page.click('[data-vm-actions] button[data-vm-action="delete"]')
    confirm = page.locator("dialog[open]")
    name = confirm.locator("input[type=text]")
    name.fill("web-frontend")
    assert confirm.locator("[data-role=confirm]").is_disabled()
    name.fill("web-frontend-01")
    page.screenshot(path=str(output_dir / "41-vm-delete-typed-name.png"))
    confirm.locator("[data-role=confirm]").click()
    page.wait_for_selector(".messages")
    assert Job.objects.filter(kind="vm.delete").count() == 1

    # A phone, in Vietnamese (longer words): nothing on these pages scrolls sideways.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="vi-VN",
        extra_http_headers={"Accept-Language": "vi"},
        is_mobile=True,
        storage_state=context.storage_state(),
    )
    small = phone.new_page()
    other = VirtualMachine.objects.create(
        name="a-rather-long-vm-name-for-a-phone", host=hosts[1], state=VMState.RUNNING, memory_mib=1024,
        domain_xml=PLAIN_XML,
    )  # fmt: skip
    for path, shot in (
        (f"/vms/{other.uuid}/", "42-vm-phone.png"),
        (f"/vms/{other.uuid}/graphics/", "43-vm-graphics-phone.png"),
        ("/manage/images/", "44-images-phone.png"),
        ("/manage/templates/", "45-templates-phone.png"),
    ):
        small.goto(f"{web_server.url}{path}")
        small.wait_for_load_state("load")
        small.wait_for_timeout(300)  # xterm sizes itself after load
        small.screenshot(path=str(output_dir / shot), full_page=True)
        width = small.evaluate("document.documentElement.scrollWidth")
        assert sideways_overflow(small) <= 0, f"{path} is {width} px wide at 390 px"
