"""Cloning without a fleet: who may clone, from which state, with which name; the quota and approval of
a user who is not staff; what a refusal leaves (nothing); what the API and the Settings tab answer.
(The copy itself runs on the sandbox: tests/vms/test_clone.py.)"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.choices import AuditResult
from audit.models import AuditEntry
from jobs.models import Job
from portal.choices import ApprovalMode
from portal.models import Quota
from sandbox import bootstrap
from tests.support.domains import ONE_DISK_XML
from tests.support.people import client_for, fake_host, make_user
from vms.choices import ShareLevel, VMState
from vms.models import VirtualMachine, VMShare

# The django_db mark, not the `db` fixture: with `db`, the folder's cleanup would look for these VMs on
# their (fake) host. Nothing here commits, so no job reaches a queue.
pytestmark = pytest.mark.django_db

XML = ONE_DISK_XML


@pytest.fixture
def source():
    owner = make_user("owner")
    template = bootstrap.ensure_demo_template()
    template.approval_policies.create(mode=ApprovalMode.AUTO)
    return VirtualMachine.objects.create(
        name="src",
        host=fake_host(),
        owner=owner,
        template=template,
        state=VMState.STOPPED,
        vcpus=1,
        memory_mib=256,
        disk_gib=2,
        domain_xml=XML,
    )


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _post(user, vm, **data):
    return _api(user).post(f"/api/v1/vms/{vm.pk}/clone/", {"name": "src-copy", **data}, format="json")


def test_the_owner_clones_a_stopped_vm_into_a_new_vm_of_her_own(source):
    response = _post(source.owner, source)
    assert response.status_code == 202, response.json()
    body = response.json()
    clone = VirtualMachine.objects.get(pk=body["vm"])
    assert (clone.name, clone.owner, clone.state) == ("src-copy", source.owner, VMState.PROVISIONING)
    assert (clone.template, clone.vcpus, clone.memory_mib, clone.disk_gib) == (source.template, 1, 256, 2)
    assert clone.uuid != source.uuid and clone.host is not None
    job = Job.objects.get(pk=body["job"]["id"])
    assert job.kind == "vm.clone" and job.target == f"vms.virtualmachine:{source.pk}"
    assert job.params == {"name": "src-copy", "clone": clone.pk, "host": clone.host.name}
    entry = AuditEntry.objects.filter(action="vm.clone").latest("pk")
    assert entry.result == AuditResult.OK and entry.details["name"] == "src-copy"


@pytest.mark.parametrize(
    "state,words",
    [(VMState.PAUSED, "Cannot clone while the VM is paused"), (VMState.UNKNOWN, "Cannot clone while the VM is")],
)
def test_a_vm_neither_running_nor_stopped_is_not_cloned_and_nothing_is_made(source, state, words):
    VirtualMachine.objects.filter(pk=source.pk).update(state=state)
    before = VirtualMachine.objects.count()
    response = _post(source.owner, source)
    assert response.status_code == 400 and words in str(response.json()), response.json()
    assert VirtualMachine.objects.count() == before and not Job.objects.exists()


@pytest.mark.parametrize("level", [ShareLevel.OPERATE, ShareLevel.VIEW])
def test_a_share_does_not_let_anyone_carry_off_a_copy(source, level):
    friend = make_user("friend")
    VMShare.objects.create(vm=source, user=friend, level=level, created_by=source.owner)
    response = _post(friend, source)
    assert response.status_code == 403 and "owner or an admin" in response.json()["detail"]
    assert _post(make_user("stranger"), source).status_code == 404
    assert VirtualMachine.objects.count() == 1


@pytest.mark.parametrize(
    "data,field,words",
    [
        ({"name": "src"}, "name", "already exists"),
        ({"name": "-bad name"}, "name", "letters, digits"),
        ({"linked": True}, "linked", "full copy"),
    ],
)
def test_bad_input_is_named_and_changes_nothing(source, data, field, words):
    response = _post(source.owner, source, **data)
    assert response.status_code == 400 and words in str(response.json()[field]), response.json()
    assert VirtualMachine.objects.count() == 1 and not Job.objects.exists()


def test_a_disk_that_is_not_a_pool_file_is_refused_by_name(source):
    block = XML.replace(
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='/pool/11111111-2222-3333-4444-555555555555-disk0.qcow2'/>",
        "<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/sdb'/>",
    )
    VirtualMachine.objects.filter(pk=source.pk).update(domain_xml=block)
    response = _post(source.owner, source)
    assert response.status_code == 400 and "vda is not a file" in str(response.json()), response.json()


def test_a_template_that_needs_approval_refuses_a_users_clone_but_not_an_admins(source):
    admin = make_user("boss", is_staff=True, is_superuser=True)
    source.template.approval_policies.update(mode=ApprovalMode.MANUAL)
    response = _post(source.owner, source)
    assert response.status_code == 400 and "need an admin's approval" in str(response.json()), response.json()
    assert _post(admin, source, name="for-owner").status_code == 202


def test_the_copy_takes_the_users_quota(source):
    Quota.objects.update_or_create(user=source.owner, defaults={"max_vms": 1})
    response = _post(source.owner, source)
    assert response.status_code == 400 and "quota" in response.json(), response.json()
    assert VirtualMachine.objects.count() == 1


def test_the_settings_tab_offers_the_form_to_the_owner_and_shows_a_refusal_on_it(source):
    friend = make_user("friend")
    VMShare.objects.create(vm=source, user=friend, level=ShareLevel.OPERATE, created_by=source.owner)
    assert 'id="clone-form"' not in client_for(friend).get(f"/vms/{source.uuid}/settings/").content.decode()
    owner = client_for(source.owner)
    page = owner.get(f"/vms/{source.uuid}/settings/").content.decode()
    assert 'id="clone-form"' in page and 'value="src-copy"' in page
    assert 'name="clone-host"' not in page, "placement chooses the host for users"
    refused = owner.post(f"/vms/{source.uuid}/clone/", {"clone-name": "src"})
    assert refused.status_code == 400 and "already exists" in refused.content.decode()
    assert VirtualMachine.objects.count() == 1
    made = owner.post(f"/vms/{source.uuid}/clone/", {"clone-name": "src-2"})
    job = Job.objects.get(kind="vm.clone", params__name="src-2")
    assert made.status_code == 302 and made["Location"] == f"/jobs/{job.pk}/", "the copy's progress is shown"
    assert job.params["clone"] == VirtualMachine.objects.get(name="src-2").pk
