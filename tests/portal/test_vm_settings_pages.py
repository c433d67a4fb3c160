"""The Settings tab's general forms and the VM list's tag/state filters and sorts (pages, no host needed)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from jobs.models import Job
from tests.portal.conftest import make_vm
from tests.support.people import make_user
from vms.choices import VMState
from vms.models import VirtualMachine, VMShare, VMTag

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def names_in(html: str) -> list[str]:
    return re.findall(r'<a href="/vms/[0-9a-f-]+/">([^<]+)</a>', html)


def test_list_filters_by_tag_and_state_and_sorts(alice, host):
    b = make_vm(alice, host, "bravo", state=VMState.STOPPED)
    a = make_vm(alice, host, "alpha")
    c = make_vm(alice, host, "charlie")
    VMTag.objects.create(vm=a, name="web")
    VMTag.objects.create(vm=b, name="web")
    VMTag.objects.create(vm=c, name="db")
    client = logged_in(alice)
    html = client.get("/vms/").content.decode()
    assert names_in(html) == ["alpha", "bravo", "charlie"]
    assert 'class="badge tag" href="?tag=web"' in html
    assert names_in(client.get("/vms/?tag=web").content.decode()) == ["alpha", "bravo"]
    assert names_in(client.get("/vms/?tag=web&state=stopped").content.decode()) == ["bravo"]
    assert names_in(client.get("/vms/?sort=-name").content.decode()) == ["charlie", "bravo", "alpha"]
    assert names_in(client.get("/vms/?sort=state").content.decode())[0] == "alpha"  # running < stopped
    assert names_in(client.get("/vms/?sort=-created").content.decode()) == ["charlie", "alpha", "bravo"]
    # What is not ours is ignored, not an error.
    for junk in ("?sort=owner__password", "?state=evil", "?tag=%3Cscript%3E", "?page=99&sort=-name"):
        response = client.get(f"/vms/{junk}")
        assert response.status_code == 200 and len(names_in(response.content.decode())) == 3, junk


def test_notes_and_tags_form_saves_at_once_and_bad_tags_show_on_the_field(alice, host, template):
    vm = make_vm(alice, host, "noted", state=VMState.STOPPED)
    VirtualMachine.objects.filter(pk=vm.pk).update(template=template)
    client = logged_in(alice)
    url = f"/vms/{vm.uuid}/settings/"
    response = client.post(url + "notes/", {"notes-notes": "the web box", "notes-tags": "web, prod"})
    assert response.status_code == 302
    vm.refresh_from_db()
    assert vm.notes == "the web box"
    assert sorted(VMTag.objects.filter(vm=vm).values_list("name", flat=True)) == ["prod", "web"]
    response = client.post(url + "notes/", {"notes-notes": "changed", "notes-tags": "ok b@d"})
    assert response.status_code == 400 and "is not a tag" in response.content.decode()
    vm.refresh_from_db()
    assert vm.notes == "the web box"


def test_size_form_refuses_above_the_template_and_queues_within(alice, host, template, private_queue):
    vm = make_vm(alice, host, "sized", state=VMState.STOPPED)
    VirtualMachine.objects.filter(pk=vm.pk).update(template=template)
    client = logged_in(alice)
    url = f"/vms/{vm.uuid}/settings/size/"
    response = client.post(url, {"size-vcpus": "3", "size-memory_mib": "128"})
    assert response.status_code == 400 and "The template allows at most 2 vCPUs" in response.content.decode()
    assert not Job.objects.filter(kind="vm.update").exists()
    response = client.post(url, {"size-vcpus": "2", "size-memory_mib": "128"})
    assert response.status_code == 302
    job = Job.objects.get(kind="vm.update")
    assert job.params["vcpus"] == 2 and "memory_mib" not in job.params and job.params["was"] == {"vcpus": 1}
    vm.refresh_from_db()
    assert vm.vcpus == 2  # booked at once: the quota counts it


def test_rename_of_a_running_vm_says_stop_first(alice, host, template):
    vm = make_vm(alice, host, "busy")
    response = logged_in(alice).post(f"/vms/{vm.uuid}/settings/rename/", {"rename-name": "other"})
    assert response.status_code == 400 and "Stop the VM first" in response.content.decode()


def test_view_share_sees_no_forms_and_cannot_post(alice, host):
    vm = make_vm(alice, host, "theirs", state=VMState.STOPPED)
    viewer = make_user("viewer")
    VMShare.objects.create(vm=vm, user=viewer, level="view")
    client = logged_in(viewer)
    page = client.get(f"/vms/{vm.uuid}/settings/").content.decode()
    assert 'id="settings-size"' not in page
    client.post(f"/vms/{vm.uuid}/settings/notes/", {"notes-notes": "mine now", "notes-tags": ""})
    vm.refresh_from_db()
    assert vm.notes == ""
