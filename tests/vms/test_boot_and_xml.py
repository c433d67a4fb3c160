"""Boot order, kernel boot and the admin's domain XML edit, through the API and the Settings page, a
real Celery worker and the sandbox fleet; `virsh dumpxml --inactive` on the host is the witness."""

from __future__ import annotations

import re

import pytest
from lxml import etree
from rest_framework.test import APIClient

from jobs.choices import JobState
from jobs.models import Job
from sandbox.demo_domain import demo_domain_xml
from tests.support.people import client_for, make_user
from tests.support.virsh import virsh
from tests.support.vm_api import create_vm as make_vm
from tests.support.vm_api import job_done as finish
from tests.support.worker import wait_for
from vms.choices import BootMode, DiskFormat, DiskSource, VMState
from vms.models import VirtualMachine, VMDomainVersion, VMTemplate

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bios_template(db):
    """The demo guest without its kernel: SeaBIOS boots from the (empty) disk; a VNC screen."""
    root = etree.fromstring(demo_domain_xml("bios", None, "", screen=True).encode())
    os_el = root.find("os")
    for tag in ("kernel", "initrd", "cmdline"):
        os_el.remove(os_el.find(tag))
    etree.SubElement(os_el, "boot", dev="hd")
    return VMTemplate.objects.create(
        name="BIOS boot (test)",
        domain_xml=etree.tostring(root, encoding="unicode"),
        boot_mode=BootMode.BIOS,
        default_vcpus=1,
        max_vcpus=1,
        default_memory_mib=64,
        max_memory_mib=128,
        default_disk_gib=1,
        max_disk_gib=1,
        disk_source=DiskSource.EMPTY,
        disk_format=DiskFormat.QCOW2,
    )


def inactive(vm: VirtualMachine, *extra: str) -> etree._Element:
    return etree.fromstring(virsh(vm.host.uri, "dumpxml", "--inactive", *extra, str(vm.uuid)).encode())


def boot_of(vm: VirtualMachine) -> tuple[list[str], str | None]:
    root = inactive(vm)
    menu = root.find("os/bootmenu")
    return [b.get("dev") for b in root.findall("os/boot")], None if menu is None else menu.get("enable")


def stop(api, vm, worker) -> None:
    finish(api.post(f"/api/v1/vms/{vm.pk}/actions/force-off/"), worker)


def test_boot_order_on_a_stopped_vm_and_back(api, vm_worker, jobs_to_test_queue, fleet_hosts, bios_template):
    vm = make_vm(api, bios_template, "boot-order", vm_worker)
    stop(api, vm, vm_worker)
    assert boot_of(vm) == (["hd"], None)
    assert api.get(f"/api/v1/vms/{vm.pk}/").json()["boot_order"] == {"mode": "bios", "order": ["hd"], "menu": False}

    job = finish(
        api.put(f"/api/v1/vms/{vm.pk}/boot/", {"order": ["cdrom", "hd"], "menu": True}, format="json"), vm_worker
    )
    assert job.kind == "vm.boot"
    assert boot_of(vm) == (["cdrom", "hd"], "yes")
    assert api.get(f"/api/v1/vms/{vm.pk}/").json()["boot_order"] == {
        "mode": "bios",
        "order": ["cdrom", "hd"],
        "menu": True,
    }

    # Bad orders: 400, no job, the host as it was.
    jobs_before = Job.objects.count()
    for body in ({"order": []}, {"order": ["hd", "hd"]}, {"order": ["floppy"]}, {"order": "hd"}, {}):
        response = api.put(f"/api/v1/vms/{vm.pk}/boot/", body, format="json")
        assert response.status_code == 400, (body, response.content)
    assert Job.objects.count() == jobs_before
    assert boot_of(vm) == (["cdrom", "hd"], "yes")

    # The same through the page: the owner's operator share may; a view share may not.
    owner = make_user("boot-owner")
    VirtualMachine.objects.filter(pk=vm.pk).update(owner=owner)
    page = client_for(owner)
    settings_page = page.get(f"/vms/{vm.uuid}/settings/")
    assert settings_page.status_code == 200
    assert b"boot-order-form" in settings_page.content
    assert b"settings-xml" not in settings_page.content  # the XML is for admins only
    response = page.post(f"/vms/{vm.uuid}/settings/boot/", {"first": "hd", "second": "hd", "third": ""})
    assert response.status_code == 400 and b"only once" in response.content
    response = page.post(f"/vms/{vm.uuid}/settings/boot/", {"first": "hd", "second": "", "third": "", "menu": ""})
    assert response.status_code == 302
    job = wait_for(Job.objects.filter(kind="vm.boot").latest("pk"), vm_worker, timeout=90)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    assert boot_of(vm) == (["hd"], "no")

    viewer = make_user("boot-viewer")
    from vms.models import VMShare

    VMShare.objects.create(vm=vm, user=viewer, level="view")
    response = client_for(viewer).post(f"/vms/{vm.uuid}/settings/boot/", {"first": "cdrom"})
    assert response.status_code == 403
    assert boot_of(vm) == (["hd"], "no")


def test_kernel_boot_vm_shows_and_admins_change_its_cmdline(
    api, admin_user, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    vm = make_vm(api, demo_template, "kernel-boot", vm_worker)
    shown = api.get(f"/api/v1/vms/{vm.pk}/").json()["boot_order"]
    assert shown["mode"] == "kernel" and shown["kernel"].startswith("/")
    original = inactive(vm).findtext("os/cmdline")
    assert original == shown["cmdline"]

    page = client_for(admin_user)
    content = page.get(f"/vms/{vm.uuid}/settings/").content
    assert original.encode() in content and b"kernel-form" in content
    assert b"takes effect at its next boot" in content  # the VM is running
    # A boot order makes no sense here.
    assert api.put(f"/api/v1/vms/{vm.pk}/boot/", {"order": ["hd"]}, format="json").status_code == 400

    new_cmdline = original + " quiet x=</cmdline><evil/>"
    bad = page.post(f"/vms/{vm.uuid}/settings/kernel/", {"kernel": "relative/vmlinuz", "cmdline": new_cmdline})
    assert bad.status_code == 400 and b"absolute path" in bad.content
    bad = page.post(f"/vms/{vm.uuid}/settings/kernel/", {"kernel": shown["kernel"], "cmdline": "a\nb"})
    assert bad.status_code == 400
    assert inactive(vm).findtext("os/cmdline") == original

    response = page.post(
        f"/vms/{vm.uuid}/settings/kernel/",
        {"kernel": shown["kernel"], "initrd": shown["initrd"], "cmdline": new_cmdline},
    )
    assert response.status_code == 302
    job = wait_for(Job.objects.filter(kind="vm.kernel").latest("pk"), vm_worker, timeout=90)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    root = inactive(vm)
    assert root.findtext("os/cmdline") == new_cmdline
    assert root.find(".//evil") is None
    assert virsh(vm.host.uri, "domstate", str(vm.uuid)).strip() == "running"  # effective at next boot
    assert "next boot" in str(job.log)

    # The owner who is no admin sees the kernel but may not change it.
    owner = make_user("kernel-owner")
    VirtualMachine.objects.filter(pk=vm.pk).update(owner=owner)
    user_page = client_for(owner)
    assert b"kernel-form" not in user_page.get(f"/vms/{vm.uuid}/settings/").content
    response = user_page.post(f"/vms/{vm.uuid}/settings/kernel/", {"kernel": "/x", "cmdline": "y"})
    assert response.status_code == 403
    assert inactive(vm).findtext("os/cmdline") == new_cmdline


def _saved(vm: VirtualMachine) -> str:
    return VirtualMachine.objects.get(pk=vm.pk).domain_xml


def test_domain_xml_edit_preview_apply_history_restore(
    api, admin_user, vm_worker, jobs_to_test_queue, fleet_hosts, bios_template
):
    vm = make_vm(api, bios_template, "xml-edit", vm_worker)
    stop(api, vm, vm_worker)
    password = inactive(vm, "--security-info").find("devices/graphics").get("passwd")
    assert password
    saved = _saved(vm)
    assert "passwd" not in saved  # never stored, never shown
    host_before = virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid))
    page = client_for(admin_user)
    assert b'data-role="saved-xml"' in page.get(f"/vms/{vm.uuid}/settings/").content

    # Refused edits: a form error / 400, no job, no version, the host unchanged.
    wrong_uuid = re.sub(r"<uuid>[^<]+</uuid>", "<uuid>0b7bd5f2-0000-4000-8000-000000000001</uuid>", saved)
    schema_invalid = saved.replace("<devices>", "<devices><bogus-device/>", 1)
    renamed = saved.replace("<name>xml-edit</name>", "<name>other</name>")
    for bad, words in (
        ("<domain><name>xml-edit", b"not a domain XML document"),
        (wrong_uuid, b"must stay this VM"),
        (renamed, b"must stay"),
        (schema_invalid, b"schema"),
    ):
        response = page.post(f"/vms/{vm.uuid}/settings/xml/preview/", {"xml": bad})
        assert response.status_code == 400 and words in response.content, response.content[-3000:]
        response = page.post(f"/vms/{vm.uuid}/settings/xml/apply/", {"xml": bad})
        assert response.status_code == 400
        assert api.put(f"/api/v1/vms/{vm.pk}/domain-xml/", {"xml": bad}, format="json").status_code == 400
    assert not Job.objects.filter(kind="vm.domain-xml").exists()
    assert not VMDomainVersion.objects.filter(vm=vm).exists()
    assert virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid)) == host_before

    # A valid edit: the preview shows the diff and changes nothing; confirming applies it.
    edited = saved.replace("<title>Demo guest</title>", "<title>Edited by hand</title>")
    assert edited != saved
    preview = page.post(f"/vms/{vm.uuid}/settings/xml/preview/", {"xml": edited, "note": "new title"})
    assert preview.status_code == 200
    diff = preview.context["xml_preview"].diff
    assert "-  <title>Demo guest</title>" in diff and "+  <title>Edited by hand</title>" in diff
    assert b'data-role="xml-diff"' in preview.content
    assert virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid)) == host_before
    base = preview.context["xml_preview"].base
    response = page.post(
        f"/vms/{vm.uuid}/settings/xml/apply/",
        {"xml": preview.context["xml_preview"].xml, "base": base, "note": "new title"},
    )
    assert response.status_code == 302
    job = wait_for(Job.objects.filter(kind="vm.domain-xml").latest("pk"), vm_worker, timeout=90)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    assert inactive(vm).findtext("title") == "Edited by hand"
    # The display keeps its password (the console relay logs in with it).
    assert inactive(vm, "--security-info").find("devices/graphics").get("passwd") == password
    versions = list(VMDomainVersion.objects.filter(vm=vm).order_by("version"))
    assert [v.version for v in versions] == [1, 2]
    assert "Demo guest" in versions[0].domain_xml and "Edited by hand" in versions[1].domain_xml
    assert versions[1].note == "new title" and versions[1].created_by == admin_user
    assert all("passwd" not in v.domain_xml for v in versions)
    assert "Edited by hand" in _saved(vm)

    # A stale preview (the saved XML changed since) is refused.
    stale = page.post(f"/vms/{vm.uuid}/settings/xml/apply/", {"xml": edited.replace("hand", "hand 2"), "base": base})
    assert stale.status_code == 400 and b"changed since" in stale.content

    # Restore version 1: another edit through the same path (preview, then apply).
    listing = page.get(f"/vms/{vm.uuid}/settings/")
    assert b'data-version="2"' in listing.content and b'data-version="1"' in listing.content
    preview = page.post(f"/vms/{vm.uuid}/settings/xml/preview/", {"version": "1"})
    assert preview.status_code == 200
    assert "+  <title>Demo guest</title>" in preview.context["xml_preview"].diff
    response = page.post(
        f"/vms/{vm.uuid}/settings/xml/apply/",
        {
            "xml": preview.context["xml_preview"].xml,
            "base": preview.context["xml_preview"].base,
            "note": "Restored version 1",
        },
    )
    assert response.status_code == 302
    job = wait_for(Job.objects.filter(kind="vm.domain-xml").latest("pk"), vm_worker, timeout=90)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    assert inactive(vm).findtext("title") == "Demo guest"
    assert inactive(vm, "--security-info").find("devices/graphics").get("passwd") == password
    assert VMDomainVersion.objects.filter(vm=vm).count() == 3

    # The API door (admins): the same checks, the same job.
    job = finish(
        api.put(f"/api/v1/vms/{vm.pk}/domain-xml/", {"xml": _saved(vm).replace("Demo guest", "API")}, format="json"),
        vm_worker,
    )
    assert inactive(vm).findtext("title") == "API"

    # Not an admin (even the owner): refused, nothing changed.
    owner = make_user("xml-owner")
    VirtualMachine.objects.filter(pk=vm.pk).update(owner=owner)
    user_page = client_for(owner)
    assert b"settings-xml" not in user_page.get(f"/vms/{vm.uuid}/settings/").content
    assert user_page.post(f"/vms/{vm.uuid}/settings/xml/preview/", {"xml": edited}).status_code == 403
    assert user_page.post(f"/vms/{vm.uuid}/settings/xml/apply/", {"xml": edited}).status_code == 403
    user_api = APIClient()
    user_api.force_authenticate(owner)
    assert user_api.put(f"/api/v1/vms/{vm.pk}/domain-xml/", {"xml": edited}, format="json").status_code == 403
    assert inactive(vm).findtext("title") == "API"
    assert VMDomainVersion.objects.filter(vm=vm).count() == 4
    assert VirtualMachine.objects.get(pk=vm.pk).state == VMState.STOPPED


def test_an_edit_libvirt_refuses_fails_with_the_hosts_words_and_changes_nothing(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, bios_template
):
    vm = make_vm(api, bios_template, "xml-refused", vm_worker)
    host_before = virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid))
    saved = _saved(vm)
    # Valid against the schema, refused by libvirt: two disks on the same target.
    disk = re.search(r"<disk type=\"file\" device=\"disk\">.*?</disk>", saved, re.S).group(0)
    twice = saved.replace(disk, disk + disk.replace(".qcow2", "-b.qcow2"), 1)
    response = api.put(f"/api/v1/vms/{vm.pk}/domain-xml/", {"xml": twice}, format="json")
    assert response.status_code == 202, response.content
    job = wait_for(Job.objects.get(pk=response.json()["id"]), vm_worker, timeout=90)
    assert job.state == JobState.FAILED
    assert "define VM 'xml-refused'" in job.error["message"] and job.error.get("host_message")
    assert virsh(vm.host.uri, "dumpxml", "--inactive", str(vm.uuid)) == host_before
    assert not VMDomainVersion.objects.filter(vm=vm).exists()
    assert "-b.qcow2" not in _saved(vm)  # the page shows what the host has: the config as it was
