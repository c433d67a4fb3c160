"""Moving a VM without a fleet: who may, to which host, from which state; what a refusal leaves
(nothing: no job, the row unchanged, an audit entry); and the watcher leaving a moving VM's row to its
job. (The moves themselves run on the sandbox: tests/vms/test_move.py.)"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.choices import AuditResult
from audit.models import AuditEntry
from jobs.models import Job
from sandbox import bootstrap
from tests.support.people import client_for, fake_host, make_user
from vms.choices import VMState
from vms.hypervisor.events import ObservedDomain
from vms.models import VirtualMachine
from vms.services.placement import Need, NoHostAvailable, choose_host
from vms.watcher import observed

pytestmark = pytest.mark.django_db


@pytest.fixture
def hosts():
    return fake_host("fake-1", "test:///default"), fake_host("fake-2", "qemu+tcp://192.0.2.2/system")


@pytest.fixture
def vm(hosts):
    return VirtualMachine.objects.create(
        name="mover",
        host=hosts[0],
        owner=make_user("owner"),
        template=bootstrap.ensure_demo_template(),
        state=VMState.RUNNING,
        memory_mib=256,
        disk_gib=1,
    )


@pytest.fixture
def admin():
    return make_user("boss", is_staff=True, is_superuser=True)


def _post(user, vm, **data):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(f"/api/v1/vms/{vm.pk}/migrate/", data, format="json")


def _nothing_changed(vm, host) -> None:
    vm.refresh_from_db()
    assert (vm.host_id, vm.moving_to_id, vm.state) == (host.pk, None, VMState.RUNNING)
    assert not Job.objects.exists()


def test_an_admin_moves_a_running_vm_to_the_other_host_placement_chooses(vm, hosts, admin):
    response = _post(admin, vm)
    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == "vm.migrate" and job.params == {"target": hosts[1].pk, "host": "fake-2", "live": True}
    entry = AuditEntry.objects.get(action="vm.migrate")
    assert entry.result == AuditResult.OK and entry.details["from_host"] == "fake-1"


def test_the_owner_may_not_move_her_vm(vm, hosts):
    response = _post(vm.owner, vm, host=hosts[1].pk)
    assert response.status_code == 403
    assert "Only an admin" in response.json()["detail"]
    _nothing_changed(vm, hosts[0])


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"host": "same"}, "host", "already on fake-1"),
        ({"live": False}, "live", "move it live, or stop it first"),
    ],
)
def test_refusals_name_the_cause_and_change_nothing(vm, hosts, admin, data, field, words):
    if data.get("host") == "same":
        data = {"host": hosts[0].pk}
    response = _post(admin, vm, **data)
    assert response.status_code == 400
    assert words in " ".join(response.json()[field]), response.json()
    _nothing_changed(vm, hosts[0])
    assert AuditEntry.objects.get(action="vm.migrate").result == AuditResult.REFUSED


def test_a_name_the_new_host_already_has_is_refused(vm, hosts, admin):
    VirtualMachine.objects.create(name="mover", host=hosts[1], state=VMState.STOPPED)
    response = _post(admin, vm, host=hosts[1].pk)
    assert response.status_code == 400
    assert "fake-2 already has a VM named 'mover'" in " ".join(response.json()["host"])
    _nothing_changed(vm, hosts[0])


def test_no_other_host_with_room_is_said(vm, hosts, admin):
    hosts[1].online = False
    hosts[1].save()
    response = _post(admin, vm)
    assert response.status_code == 400
    assert "fake-2 is offline" in " ".join(response.json()["host"])
    _nothing_changed(vm, hosts[0])


def test_the_watcher_leaves_a_moving_vms_row_to_its_job(vm, hosts):
    VirtualMachine.objects.filter(pk=vm.pk).update(moving_to=hosts[1])
    incoming = ObservedDomain(str(vm.uuid), vm.name, VMState.PAUSED, 1, 256)
    on_new = observed.apply_observation(hosts[1].pk, str(vm.uuid), incoming)
    on_old = observed.apply_observation(hosts[0].pk, str(vm.uuid), None)
    vm.refresh_from_db()
    assert (vm.host_id, vm.state) == (hosts[0].pk, VMState.RUNNING), "neither paused nor unknown while it moves"
    assert on_new.active and not on_old.active, "the console follows the domain that runs"

    VirtualMachine.objects.filter(pk=vm.pk).update(moving_to=None)
    observed.apply_observation(hosts[0].pk, str(vm.uuid), None)
    vm.refresh_from_db()
    assert vm.state == VMState.UNKNOWN, "without a move, a vanished domain is still noticed"


def test_the_settings_tab_offers_the_move_to_admins_and_shows_a_refusal_on_the_form(vm, hosts, admin):
    assert 'id="move-form"' not in client_for(vm.owner).get(f"/vms/{vm.uuid}/settings/").content.decode()
    boss = client_for(admin)
    page = boss.get(f"/vms/{vm.uuid}/settings/").content.decode()
    form = page[page.index('id="move-form"') :]
    form = form[: form.index("</form>")]
    assert f'<option value="{hosts[1].pk}"' in form
    assert f'<option value="{hosts[0].pk}"' not in form, "the VM's own host is not offered"
    assert boss.post(f"/vms/{vm.uuid}/move/", {"move-host": hosts[0].pk}).status_code == 400, "not a choice"
    hosts[1].online = False
    hosts[1].save()
    refused = boss.post(f"/vms/{vm.uuid}/move/", {"move-host": hosts[1].pk})
    assert refused.status_code == 400 and "fake-2 is offline" in refused.content.decode()
    _nothing_changed(vm, hosts[0])
    hosts[1].online = True
    hosts[1].save()
    moved = boss.post(f"/vms/{vm.uuid}/move/", {"move-host": hosts[1].pk})
    job = Job.objects.get(kind="vm.migrate")
    assert moved.status_code == 302 and moved["Location"] == f"/jobs/{job.pk}/"


def test_a_host_without_the_templates_base_image_takes_a_moving_vm(vm, hosts, admin):
    template = vm.template
    template.base_image = "base.qcow2"
    template.save()
    with pytest.raises(NoHostAvailable, match="does not have the base image"):
        choose_host(template, Need(1, 256, 1), preferred=hosts[1])  # a new VM would need it
    response = _post(admin, vm, host=hosts[1].pk)
    assert response.status_code == 202, response.json()
