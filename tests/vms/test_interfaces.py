"""Network interfaces through the API, a real Celery worker and the sandbox fleet, witnessed by virsh:
add a NIC to a running VM on the host's `default` network, set its link down and up, remove it; bad
input is refused with nothing changed; MACs are unique in the fleet and freed again."""

from __future__ import annotations

import pytest

from jobs.models import Job
from tests.support.virsh import virsh
from tests.support.vm_api import create_vm as _create
from tests.support.vm_api import job_done
from vms.choices import VMState
from vms.models import MACAddress, VirtualMachine

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def domiflist(vm: VirtualMachine) -> str:
    return virsh(vm.host.uri, "domiflist", str(vm.uuid)).lower()


def saved_domiflist(vm: VirtualMachine) -> str:
    return virsh(vm.host.uri, "domiflist", str(vm.uuid), "--inactive").lower()


def test_add_link_and_remove_an_interface_on_a_running_vm(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    vm = _create(api, demo_template, "nic-demo", vm_worker)
    assert vm.state == VMState.RUNNING
    # The demo template's own NIC on `default`: registered in the fleet's MAC registry when provisioned.
    [first] = api.get(f"/api/v1/vms/{vm.pk}/interfaces/").json()
    assert first["type"] == "network" and first["source"] == "default" and first["link"] == "up"
    assert first["mac"] in domiflist(vm)
    assert set(MACAddress.objects.filter(vm=vm).values_list("mac", flat=True)) == {first["mac"]}

    response = api.post(f"/api/v1/vms/{vm.pk}/interfaces/", {"network": "default", "model": "e1000"}, format="json")
    job = _done(api, response, vm_worker)
    mac = job.params["mac"]
    assert mac.startswith("52:54:00:") and mac != first["mac"]
    assert mac in domiflist(vm), "live: the running domain has the NIC"
    assert mac in saved_domiflist(vm), "and its saved config, for the next boot"
    row = [line for line in domiflist(vm).splitlines() if mac in line][0]
    assert "default" in row and "e1000" in row
    assert MACAddress.objects.get(mac=mac).vm_id == vm.pk
    shown = {nic["mac"]: nic for nic in api.get(f"/api/v1/vms/{vm.pk}/").json()["interfaces"]}
    assert shown[mac]["model"] == "e1000" and shown[mac]["source"] == "default"

    _done(api, api.post(f"/api/v1/vms/{vm.pk}/interfaces/{mac}/link/", {"up": False}, format="json"), vm_worker)
    assert "down" in virsh(vm.host.uri, "domif-getlink", str(vm.uuid), mac)
    assert "down" in virsh(vm.host.uri, "domif-getlink", str(vm.uuid), mac, "--config")
    shown = {nic["mac"]: nic for nic in api.get(f"/api/v1/vms/{vm.pk}/interfaces/").json()}
    assert shown[mac]["link"] == "down"
    _done(api, api.post(f"/api/v1/vms/{vm.pk}/interfaces/{mac}/link/", {"up": True}, format="json"), vm_worker)
    assert " up" in virsh(vm.host.uri, "domif-getlink", str(vm.uuid), mac)

    _done(api, api.delete(f"/api/v1/vms/{vm.pk}/interfaces/{mac}/"), vm_worker)
    assert mac not in domiflist(vm) and mac not in saved_domiflist(vm)
    assert first["mac"] in domiflist(vm), "the other NIC stays"
    assert not MACAddress.objects.filter(mac=mac).exists(), "a removed NIC's MAC is free again"
    assert [n["mac"] for n in api.get(f"/api/v1/vms/{vm.pk}/interfaces/").json()] == [first["mac"]]

    # Bad input: 400, no job, nothing changed on the host or in the registry.
    before_jobs, before_list, before_macs = Job.objects.count(), domiflist(vm), MACAddress.objects.count()
    other = VirtualMachine.objects.create(name="holder", host=vm.host, state=VMState.STOPPED)
    MACAddress.objects.create(mac="52:54:00:ab:cd:ef", vm=other)
    bad = [
        ({"network": "no-such-net", "model": "virtio"}, "network"),
        ({"bridge": "nobr0", "model": "virtio"}, "bridge"),
        ({"network": "default", "bridge": "br0"}, "network"),
        ({"network": "default", "model": "pcnet"}, "model"),
        ({"network": "default", "mac": "zz:54:00:00:00:01"}, "mac"),
        ({"network": "default", "mac": "01:00:5e:00:00:01"}, "mac"),  # multicast
        ({"network": "default", "mac": "52:54:00:ab:cd:ef"}, "mac"),  # another VM's
        ({"network": "default", "mac": first["mac"]}, "mac"),  # this VM's own
    ]
    for body, field in bad:
        response = api.post(f"/api/v1/vms/{vm.pk}/interfaces/", body, format="json")
        assert response.status_code == 400, (body, response.json())
        assert field in response.json(), (body, response.json())
    for response in (
        api.delete(f"/api/v1/vms/{vm.pk}/interfaces/52:54:00:00:00:99/"),
        api.delete(f"/api/v1/vms/{vm.pk}/interfaces/not-a-mac/"),
        api.post(f"/api/v1/vms/{vm.pk}/interfaces/52:54:00:00:00:99/link/", {"up": False}, format="json"),
    ):
        assert response.status_code == 400, response.json()
    assert Job.objects.count() == before_jobs
    assert domiflist(vm) == before_list
    assert MACAddress.objects.count() == before_macs + 1  # only the holder's, made above

    # Deleting the VM frees its MACs for other NICs.
    _done(api, api.delete(f"/api/v1/vms/{vm.pk}/"), vm_worker)
    from vms.services.interfaces import reserve_mac

    assert reserve_mac(other, first["mac"]) == first["mac"], "a deleted VM's MAC may be given again"


def test_a_stopped_vm_gets_the_interface_in_its_saved_config(
    api, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    vm = _create(api, demo_template, "nic-stopped", vm_worker)
    _done(api, api.post(f"/api/v1/vms/{vm.pk}/actions/force-off/"), vm_worker)
    response = api.post(f"/api/v1/vms/{vm.pk}/interfaces/", {"network": "default", "model": "rtl8139"}, format="json")
    mac = _done(api, response, vm_worker).params["mac"]
    assert mac in saved_domiflist(vm)
    _done(api, api.post(f"/api/v1/vms/{vm.pk}/actions/start/"), vm_worker)
    assert mac in domiflist(vm), "the NIC is there after the next start"


def test_two_add_requests_never_get_the_same_mac(fleet_hosts, demo_template, admin_user, monkeypatch):
    """The registry's unique constraint holds even when the random source repeats itself."""
    from vms.hypervisor import nics
    from vms.services import interfaces

    vm_a = VirtualMachine.objects.create(name="a", host=fleet_hosts[0], state=VMState.STOPPED)
    vm_b = VirtualMachine.objects.create(name="b", host=fleet_hosts[0], state=VMState.STOPPED)
    given = iter(["52:54:00:00:00:01", "52:54:00:00:00:01", "52:54:00:00:00:02"])
    monkeypatch.setattr(interfaces, "random_mac", lambda: next(given))
    assert interfaces.reserve_mac(vm_a) == "52:54:00:00:00:01"
    assert interfaces.reserve_mac(vm_b) == "52:54:00:00:00:02"
    assert nics.random_mac().startswith("52:54:00:")


def _done(api, response, worker) -> Job:
    return job_done(response, worker)
