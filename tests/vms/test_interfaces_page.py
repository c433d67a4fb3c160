"""The Network tab and the interfaces API without a host: what is offered comes from the host's stored
facts; a view share sees but cannot change; bad input changes nothing; a good add reserves a fleet-unique
MAC with its job. (The jobs themselves run on the sandbox: tests/vms/test_interfaces.py.)"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from jobs.models import Job
from live.redis import sync_redis
from tests.support.people import client_for, fake_host, make_user
from vms.choices import ShareLevel, VMState
from vms.models import MACAddress, VirtualMachine, VMShare
from vms.watcher.store import addresses_key

pytestmark = pytest.mark.django_db

XML = (
    "<domain type='qemu'><name>n</name><devices>"
    "<interface type='network'><mac address='52:54:00:11:22:33'/><source network='default'/>"
    "<model type='virtio'/></interface>"
    "<interface type='bridge'><mac address='52:54:00:11:22:44'/><source bridge='br0'/>"
    "<model type='e1000'/><link state='down'/></interface>"
    "</devices></domain>"
)


@pytest.fixture
def vm(db):
    host = fake_host()
    host.capabilities.update(
        networks=[
            {"name": "default", "active": True, "bridge": "virbr0"},
            {"name": "parked", "active": False, "bridge": "virbr1"},
        ],
        bridges=["br0", "virbr0"],
        bridges_known=True,
    )
    host.save()
    owner = make_user("nic-owner")
    return VirtualMachine.objects.create(name="n", host=host, owner=owner, state=VMState.RUNNING, domain_xml=XML)


def test_a_vm_not_yet_on_its_host_shows_its_template_nics_without_actions(vm):
    """Before the host defines it, a VM's XML is its template's: interfaces without a MAC (the host gives
    one). The tab shows them and offers nothing to do to an interface it cannot name."""
    vm.state = VMState.PROVISIONING
    vm.domain_xml = (
        "<domain type='qemu'><name>n</name><devices>"
        "<interface type='network'><source network='default'/></interface></devices></domain>"
    )
    vm.save()
    response = client_for(vm.owner).get(f"/vms/{vm.uuid}/network/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "network default" in page and "given by the host" in page
    assert "/link/" not in page and "/remove/" not in page


def test_the_tab_lists_nics_with_live_addresses_and_offers_what_the_host_has(vm):
    sync_redis().set(
        addresses_key(vm.uuid),
        json.dumps({"addresses": ["192.168.122.5"], "by_mac": {"52:54:00:11:22:33": ["192.168.122.5"]}}),
    )
    try:
        page = client_for(vm.owner).get(f"/vms/{vm.uuid}/network/").content.decode()
    finally:
        sync_redis().delete(addresses_key(vm.uuid))
    assert 'data-mac="52:54:00:11:22:33"' in page and 'data-mac="52:54:00:11:22:44"' in page
    assert "<code>192.168.122.5</code>" in page
    assert 'data-link="down"' in page
    assert 'value="network:default"' in page and 'value="bridge:br0"' in page
    assert "network:parked" not in page, "a stopped network is not offered"
    assert "bridge:virbr0" not in page, "a libvirt network's own bridge is joined through its network"


def test_a_view_share_sees_but_cannot_change(vm):
    viewer = make_user("viewer")
    VMShare.objects.create(vm=vm, user=viewer, level=ShareLevel.VIEW, created_by=vm.owner)
    client = client_for(viewer)
    page = client.get(f"/vms/{vm.uuid}/network/").content.decode()
    assert "52:54:00:11:22:33" in page and 'id="add-interface"' not in page and "Link down" not in page
    client.post(f"/vms/{vm.uuid}/network/add/", {"target": "network:default", "model": "virtio"})
    client.post(f"/vms/{vm.uuid}/network/52:54:00:11:22:33/remove/")
    api = APIClient()
    api.force_authenticate(viewer)
    assert api.post(f"/api/v1/vms/{vm.pk}/interfaces/", {"network": "default"}, format="json").status_code == 403
    assert api.delete(f"/api/v1/vms/{vm.pk}/interfaces/52:54:00:11:22:33/").status_code == 403
    assert api.get(f"/api/v1/vms/{vm.pk}/interfaces/").status_code == 200
    assert Job.objects.count() == 0 and MACAddress.objects.count() == 0


def test_bad_input_on_the_page_is_a_form_error_and_changes_nothing(vm):
    client = client_for(vm.owner)
    for data in (
        {"target": "network:nowhere", "model": "virtio"},
        {"target": "network:parked", "model": "virtio"},
        {"target": "network:default", "model": "pcnet"},
    ):
        answer = client.post(f"/vms/{vm.uuid}/network/add/", data)
        assert answer.status_code == 400 and 'class="error-summary"' in answer.content.decode(), data
    assert Job.objects.count() == 0 and MACAddress.objects.count() == 0


def test_a_good_add_queues_the_job_with_a_reserved_mac(vm, settings):
    answer = client_for(vm.owner).post(f"/vms/{vm.uuid}/network/add/", {"target": "bridge:br0", "model": "rtl8139"})
    assert answer.status_code == 302
    job = Job.objects.get()
    assert job.kind == "vm.interface-add"
    assert job.params["bridge"] == "br0" and job.params["model"] == "rtl8139" and not job.params["network"]
    assert job.params["mac"].startswith("52:54:00:")
    assert MACAddress.objects.get(mac=job.params["mac"]).vm_id == vm.pk
    # One job per VM: a second change while it is queued is refused (409), nothing more reserved.
    api = APIClient()
    api.force_authenticate(vm.owner)
    assert api.post(f"/api/v1/vms/{vm.pk}/interfaces/", {"network": "default"}, format="json").status_code == 409
    assert MACAddress.objects.count() == 1


def test_api_shows_interfaces_and_addresses_by_mac(vm):
    api = APIClient()
    api.force_authenticate(vm.owner)
    body = api.get(f"/api/v1/vms/{vm.pk}/").json()
    assert body["interfaces"] == [
        {
            "mac": "52:54:00:11:22:33",
            "type": "network",
            "source": "default",
            "model": "virtio",
            "link": "up",
            "addresses": [],
        },
        {
            "mac": "52:54:00:11:22:44",
            "type": "bridge",
            "source": "br0",
            "model": "e1000",
            "link": "down",
            "addresses": [],
        },
    ]
    assert body["addresses"] == {"52:54:00:11:22:33": [], "52:54:00:11:22:44": []}
