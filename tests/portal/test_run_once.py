"""Run-once VMs without a fleet: the request option (form, API, request page), how the pages mark
them, the refusals with their reasons, and the rule that ends one (deleted + one cleanup job).

What the host does with one (transient domain, gone at power-off, disks removed) is tested on the
sandbox fleet in tests/vms/watcher/test_run_once.py.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from audit.choices import AuditResult
from audit.models import AuditEntry
from audit.presentation import sentence
from jobs.models import Job
from jobs.targets import target_for
from portal.choices import RequestState
from portal.models import VMRequest
from tests.portal.conftest import make_vm
from vms.choices import VMChange, VMState
from vms.models import VirtualMachine
from vms.services.actions import act_on_vm
from vms.services.changes import check_change, request_change
from vms.services.run_once import CLEANUP_JOB, domain_gone
from vms.watcher.observed import apply_observation

pytestmark = pytest.mark.django_db
BADGE_TITLE = "gone from its host when it powers off"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def run_once_vm(owner, host, name: str = "once", state: str = VMState.RUNNING) -> VirtualMachine:
    vm = make_vm(owner, host, name, state)
    VirtualMachine.objects.filter(pk=vm.pk).update(run_once=True)
    vm.refresh_from_db()
    return vm


# --- asking for one ---------------------------------------------------------------------------------


def test_the_request_form_offers_run_once_and_the_request_page_shows_it(alice, template):
    form = client_for(alice).get("/request/").content.decode()
    assert 'name="run_once"' in form and "gone when it powers off" in form

    response = client_for(alice).post(
        "/request/",
        {"template": template.pk, "name": "once-form", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "run_once": "on"},
        follow=True,
    )
    req = VMRequest.objects.get(name="once-form")
    assert req.run_once is True
    html = response.content.decode()
    assert 'id="request-run-once"' in html and BADGE_TITLE in html

    client_for(alice).post(
        "/request/", {"template": template.pk, "name": "kept", "vcpus": 1, "memory_mib": 128, "disk_gib": 1}
    )
    assert VMRequest.objects.get(name="kept").run_once is False
    assert (
        'id="request-run-once"'
        not in client_for(alice).get(f"/requests/{VMRequest.objects.get(name='kept').pk}/").content.decode()
    )


def test_a_run_once_request_through_the_api_makes_a_run_once_vm(alice, auto_template, host, private_queue):
    response = api_for(alice).post(
        "/api/v1/vms/", {"template": auto_template.pk, "name": "once-api", "run_once": True}, format="json"
    )
    assert response.status_code == 202, response.json()
    request = response.json()["request"]
    assert request["run_once"] is True and request["state"] == RequestState.PROVISIONED
    vm = VirtualMachine.objects.get(name="once-api")
    assert vm.run_once is True
    assert api_for(alice).get(f"/api/v1/vms/{vm.pk}/").json()["run_once"] is True
    assert Job.objects.filter(kind="vm.provision", target=target_for(vm)).exists()


def test_an_admin_creates_a_run_once_vm_directly_and_run_once_must_be_a_boolean(admin, template, host, private_queue):
    api = api_for(admin)
    bad = api.post("/api/v1/vms/", {"template": template.pk, "name": "once-bad", "run_once": "maybe"}, format="json")
    assert bad.status_code == 400 and "run_once" in bad.json()
    assert not VirtualMachine.objects.filter(name="once-bad").exists()

    made = api.post("/api/v1/vms/", {"template": template.pk, "name": "once-admin", "run_once": True}, format="json")
    assert made.status_code == 202, made.json()
    assert made.json()["run_once"] is True and VirtualMachine.objects.get(name="once-admin").run_once
    plain = api.post("/api/v1/vms/", {"template": template.pk, "name": "plain-admin"}, format="json")
    assert plain.json()["run_once"] is False


# --- pages --------------------------------------------------------------------------------------------


def test_pages_mark_run_once_vms_and_offer_no_start(alice, host):
    once = run_once_vm(alice, host, "once-page", VMState.RUNNING)
    plain = make_vm(alice, host, "plain-page", VMState.STOPPED)
    page = client_for(alice).get(f"/vms/{once.uuid}/").content.decode()
    assert 'data-run-once title="Run-once VM: gone from its host when it powers off' in page
    assert 'id="vm-run-once"' in page
    assert 'data-vm-action="start"' not in page  # nothing is left to start once it is off
    assert 'data-vm-action="force-off"' in page

    plain_page = client_for(alice).get(f"/vms/{plain.uuid}/").content.decode()
    assert "data-run-once" not in plain_page and 'data-vm-action="start"' in plain_page

    listing = client_for(alice).get("/vms/").content.decode()
    row = listing[listing.index(f'<tr data-vm="{once.uuid}"') :]
    row = row[: row.index("</tr>")]
    assert "data-run-once" in row and 'data-vm-action="start"' not in row
    plain_row = listing[listing.index(f'<tr data-vm="{plain.uuid}"') :]
    assert "data-run-once" not in plain_row[: plain_row.index("</tr>")]


# --- refusals -----------------------------------------------------------------------------------------


def test_start_is_refused_for_a_run_once_vm_with_the_reason(alice, host):
    vm = run_once_vm(alice, host, "once-off", VMState.STOPPED)
    with pytest.raises(ValidationError) as refused:
        act_on_vm(alice, vm, "start")
    assert "A run-once VM cannot be started" in " ".join(refused.value.messages)
    response = api_for(alice).post(f"/api/v1/vms/{vm.pk}/actions/start/")
    assert response.status_code == 400 and "Request a new VM instead" in str(response.json())
    assert not Job.objects.filter(target=target_for(vm)).exists()
    assert AuditEntry.objects.filter(action="vm.start", object_id=str(vm.pk), result=AuditResult.REFUSED).count() == 2


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (VMChange.SNAPSHOT_CREATE, "A run-once VM cannot take a snapshot: it has no saved configuration"),
        (VMChange.BOOT, "A run-once VM cannot change the boot order"),
        (VMChange.DOMAIN_XML, "A run-once VM cannot change the domain XML"),
    ],
)
def test_changes_without_a_saved_configuration_are_refused_with_the_reason(alice, host, change, words):
    vm = run_once_vm(alice, host)
    with pytest.raises(ValidationError) as refused:
        request_change(alice, vm, change, {"name": "before-upgrade"})
    assert words in " ".join(refused.value.messages)
    assert not Job.objects.filter(target=target_for(vm)).exists()
    entry = AuditEntry.objects.get(action=f"vm.{change}", object_id=str(vm.pk))
    assert entry.result == AuditResult.REFUSED and words in entry.details["reason"]


def test_the_snapshot_api_and_tab_refuse_a_run_once_vm_with_the_reason(alice, host):
    vm = run_once_vm(alice, host, "once-snap")
    response = api_for(alice).post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "before"}, format="json")
    assert response.status_code == 400, response.json()
    assert "A run-once VM cannot take a snapshot" in str(response.json())
    assert not Job.objects.filter(target=target_for(vm)).exists()
    tab = client_for(alice).get(f"/vms/{vm.uuid}/snapshots/").content.decode()
    assert "run-once VM has no saved configuration" in tab


def test_a_plain_vm_is_not_refused_for_being_run_once(alice, host):
    # The snapshot runner lives in its own part; the checks before queueing are what is judged here.
    check_change(alice, make_vm(alice, host, "plain-snap"), VMChange.SNAPSHOT_CREATE)  # no refusal


# --- the end of a run-once VM -------------------------------------------------------------------------


def test_a_vanished_run_once_vm_is_deleted_with_one_cleanup_job(alice, host, private_queue):
    vm = run_once_vm(alice, host)
    plain = make_vm(alice, host, "plain-vanished")

    seen = apply_observation(host.pk, str(vm.uuid), None)  # what the watcher does when it is gone
    assert seen.state == VMState.DELETED
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    jobs = Job.objects.filter(kind=CLEANUP_JOB, target=target_for(vm))
    assert jobs.count() == 1 and jobs.get().requested_by is None
    gone = AuditEntry.objects.get(action="vm.run-once-gone", object_id=str(vm.pk))
    assert "once ran once and powered off (seen by the system)" in str(sentence(gone, lambda *_: ""))

    # Seen gone again (the next resync, or the power-off job): nothing more happens.
    apply_observation(host.pk, str(vm.uuid), None)
    assert domain_gone(vm) is None
    assert jobs.count() == 1

    # A VM that is not run-once and vanishes is only unknown: something outside removed it.
    assert apply_observation(host.pk, str(plain.uuid), None).state == VMState.UNKNOWN
    assert not Job.objects.filter(target=target_for(plain)).exists()


def test_a_run_once_vm_still_provisioning_is_left_to_its_job(alice, host, private_queue):
    vm = run_once_vm(alice, host, state=VMState.PROVISIONING)
    apply_observation(host.pk, str(vm.uuid), None)
    vm.refresh_from_db()
    assert vm.state == VMState.PROVISIONING
    assert not Job.objects.filter(kind=CLEANUP_JOB).exists()
