"""The Settings tab's boot order and domain XML parts in a real browser: the ordered choices and the
boot menu, the XML edit's preview with its diff, the confirmation that queues the job, and a phone's
width. Hosts with test:/// URIs and no worker: the jobs stay queued (tests/vms/test_boot_and_xml.py
runs them on the sandbox fleet)."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model

from jobs.models import Job
from tests.browser.support import PASSWORD, sideways_overflow
from tests.browser.test_vm_pages import session_cookie
from vms.choices import VMState
from vms.models import Host, VirtualMachine

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def bios_vm(host: Host, name: str) -> VirtualMachine:
    vm_uuid = uuid.uuid4()
    xml = (
        f"<domain type='qemu'>\n  <name>{name}</name>\n  <uuid>{vm_uuid}</uuid>\n  <title>Demo guest</title>\n"
        "  <memory unit='KiB'>65536</memory>\n  <vcpu placement='static'>1</vcpu>\n"
        "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n    <boot dev='hd'/>\n  </os>\n"
        "  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
        "    <disk type='file' device='disk'>\n      <source file='/var/lib/libvirt/images/x.qcow2'/>\n"
        "      <target dev='vda' bus='virtio'/>\n    </disk>\n"
        "    <graphics type='vnc' port='-1' autoport='yes'/>\n  </devices>\n</domain>"
    )
    return VirtualMachine.objects.create(
        uuid=vm_uuid, name=name, host=host, state=VMState.STOPPED, vcpus=1, memory_mib=64, disk_gib=1, domain_xml=xml
    )


def test_boot_order_and_xml_preview_in_the_browser(browser, web_server, output_dir):
    chief = get_user_model().objects.create_superuser("chief", "chief@example.org", PASSWORD)
    host = Host.objects.create(name="rack-01", uri="test:///rack1", online=True)
    first, second = bios_vm(host, "boot-web-01"), bios_vm(host, "boot-web-02")

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.add_cookies([session_cookie(chief, web_server.url)])
    page = context.new_page()

    page.goto(f"{web_server.url}/vms/{first.uuid}/settings/")
    boot = page.locator("#settings-boot")
    assert "Disk." in boot.locator("[data-role=boot-order]").inner_text()
    boot.get_by_label("First").select_option("cdrom")
    boot.locator("#id_second").select_option("hd")
    boot.get_by_label("Boot menu").check()
    page.screenshot(path=str(output_dir / "settings-boot-order.png"), full_page=True)
    boot.get_by_role("button", name="Save the boot order").click()
    page.wait_for_url(f"**/vms/{first.uuid}/settings/#settings-boot")
    assert "Queued" in page.locator(".messages").inner_text()
    job = Job.objects.get(kind="vm.boot")
    assert job.params == {"order": ["cdrom", "hd"], "menu": True}

    # The XML: edit, see the diff (nothing queued yet), confirm.
    page.goto(f"{web_server.url}/vms/{second.uuid}/settings/")
    xml_card = page.locator("#settings-xml")
    assert "passwd" not in xml_card.locator("[data-role=saved-xml]").inner_text()
    xml_card.get_by_text("Edit the XML").click()
    text = xml_card.locator("textarea").input_value()
    xml_card.locator("textarea").fill(text.replace("Demo guest", "Edited in the browser"))
    xml_card.get_by_role("button", name="Show the changes").click()
    diff = page.locator("[data-role=xml-diff]")
    assert "+  <title>Edited in the browser</title>" in diff.inner_text()
    assert not Job.objects.filter(kind="vm.domain-xml").exists()
    page.screenshot(path=str(output_dir / "settings-xml-preview.png"), full_page=True)
    page.get_by_role("button", name="Apply these changes").click()
    page.wait_for_url(f"**/vms/{second.uuid}/settings/#settings-xml")
    assert "Queued" in page.locator(".messages").inner_text()
    assert "Edited in the browser" in Job.objects.get(kind="vm.domain-xml").params["xml"]

    # A schema-invalid edit: the error summary, and the textarea keeps what was typed.
    page.goto(f"{web_server.url}/vms/{first.uuid}/settings/")
    xml_card = page.locator("#settings-xml")
    xml_card.get_by_text("Edit the XML").click()
    text = xml_card.locator("textarea").input_value()
    xml_card.locator("textarea").fill(text.replace("<devices>", "<devices><bogus/>"))
    xml_card.get_by_role("button", name="Show the changes").click()
    assert "schema" in page.locator(".error-summary").inner_text()
    assert "<bogus/>" in page.locator("#settings-xml textarea").input_value()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    phone.add_cookies([session_cookie(chief, web_server.url)])
    small = phone.new_page()
    small.goto(f"{web_server.url}/vms/{first.uuid}/settings/")
    assert sideways_overflow(small) <= 0
    small.screenshot(path=str(output_dir / "settings-boot-phone.png"), full_page=True)
