"""Save as template without a fleet: who may, from which state, which names; a refusal makes nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from jobs.models import Job
from sandbox import bootstrap
from tests.support.domains import ONE_DISK_XML
from tests.support.people import client_for, fake_host, make_user
from vms.choices import VMState
from vms.models import Image, VirtualMachine, VMTemplate

pytestmark = pytest.mark.django_db

XML = ONE_DISK_XML


@pytest.fixture
def vm():
    return VirtualMachine.objects.create(
        name="src",
        host=fake_host(),
        owner=make_user("owner"),
        template=bootstrap.ensure_demo_template(),
        state=VMState.STOPPED,
        domain_xml=XML,
    )


@pytest.fixture
def admin():
    return make_user("boss", is_staff=True, is_superuser=True)


def _post(user, vm, name="Golden"):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(f"/api/v1/vms/{vm.pk}/save-as-template/", {"name": name}, format="json")


def test_an_admin_saves_a_stopped_vm(vm, admin):
    response = _post(admin, vm)
    assert response.status_code == 202, response.json()
    assert Job.objects.get().kind == "vm.save-as-template" and Job.objects.get().params == {"name": "Golden"}


def test_refusals_say_why_and_make_nothing(vm, admin):
    assert _post(vm.owner, vm).status_code == 403
    VMTemplate.objects.create(name="Taken", domain_xml=XML)
    Image.objects.create(name="Also taken", kind="base", format="qcow2")
    assert "already exists" in str(_post(admin, vm, "Taken").json()["name"])
    assert "already exists" in str(_post(admin, vm, "Also taken").json()["name"])
    VirtualMachine.objects.filter(pk=vm.pk).update(state=VMState.RUNNING)
    running = _post(admin, vm)
    assert running.status_code == 400 and "Stop the VM first" in str(running.json())
    VirtualMachine.objects.filter(pk=vm.pk).update(
        state=VMState.STOPPED, domain_xml="<domain type='kvm'><name>x</name><devices/></domain>"
    )
    assert "no disk" in str(_post(admin, vm).json()["vm"])
    assert not Job.objects.exists()


def test_the_settings_tab_offers_it_to_admins_only(vm, admin):
    assert 'id="save-template-form"' not in client_for(vm.owner).get(f"/vms/{vm.uuid}/settings/").content.decode()
    page = client_for(admin)
    assert 'id="save-template-form"' in page.get(f"/vms/{vm.uuid}/settings/").content.decode()
    refused = page.post(f"/vms/{vm.uuid}/save-as-template/", {"save-name": ""})
    assert refused.status_code == 400
    made = page.post(f"/vms/{vm.uuid}/save-as-template/", {"save-name": "Golden"})
    job = Job.objects.get(kind="vm.save-as-template")
    assert made.status_code == 302 and made["Location"] == f"/jobs/{job.pk}/"
