"""The request flow, quotas, approval policies, sharing and the audit log, through the services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from audit import log as audit_log
from audit.models import AuditEntry
from jobs.models import Job
from jobs.targets import target_for
from portal import quotas, services
from portal.choices import ApprovalMode, RequestState
from portal.models import Quota, VMRequest
from portal.selectors import visible_entries
from tests.portal.conftest import make_vm
from tests.support.people import make_user
from vms.choices import ShareLevel, VMState
from vms.permissions import can_delete_vm, can_operate_vm, can_view_vm, visible_vm_ids
from vms.selectors import visible_vms
from vms.services import sharing
from vms.services.actions import act_on_vm

pytestmark = pytest.mark.django_db

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBd4UuVZBJPmz8rZ0N5x7kTq9fS1nUvJ4dHk2mTmQx7Y alice@laptop"


def submit(user, template, name="web-1", vcpus=1, memory_mib=128, disk_gib=1, **kw):
    return services.submit_request(user, template, name, vcpus, memory_mib, disk_gib, **kw)


def test_manual_policy_keeps_the_request_pending_and_audits_it(alice, template):
    req = submit(alice, template, ssh_keys=KEY + "\n\n", note="for the course")
    assert req.state == RequestState.PENDING and req.vm is None
    assert req.ssh_keys == [KEY] and req.note == "for the course"
    entry = AuditEntry.objects.get(action="request.submit")
    assert entry.actor == alice and entry.object_type == "request" and entry.object_id == str(req.pk)


def test_validation_errors_name_each_field(alice, template):
    with pytest.raises(ValidationError) as caught:
        submit(alice, template, name="-bad name", vcpus=99, memory_mib=0, ssh_keys="not a key")
    errors = caught.value.message_dict
    assert {"name", "vcpus", "memory_mib", "ssh_keys"} <= errors.keys()
    assert "at most 2" in errors["vcpus"][0]
    assert not VMRequest.objects.exists()


def test_a_user_may_not_choose_the_host(alice, template, host):
    with pytest.raises(ValidationError) as caught:
        submit(alice, template, host=host)
    assert "host" in caught.value.message_dict


def test_admin_approves_creates_the_vm_and_links_it(alice, admin, template, host, private_queue):
    req = submit(alice, template, ssh_keys=[KEY])
    req = services.approve(admin, req, host=host)
    assert req.state == RequestState.PROVISIONED and req.decided_by == admin and not req.auto_approved
    vm = req.vm
    assert vm.owner == alice and vm.host == host and vm.state == VMState.PROVISIONING and vm.name == "web-1"
    job = Job.objects.get(target=target_for(vm))
    assert job.kind == "vm.provision" and job.params["ssh_keys"] == [KEY]
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {
        "request.submit",
        "request.approve",
        "vm.create",
    }
    with pytest.raises(ValidationError):
        services.approve(admin, req)  # decided once


def test_only_admins_approve_or_reject(alice, bob, template):
    req = submit(alice, template)
    with pytest.raises(PermissionDenied):
        services.approve(alice, req)
    with pytest.raises(PermissionDenied):
        services.reject(bob, req, "no")


def test_reject_needs_a_reason_and_frees_the_quota(alice, admin, template):
    quotas.set_quota(user=alice, max_vms=1)
    req = submit(alice, template)
    with pytest.raises(ValidationError):
        submit(alice, template, name="web-2")
    with pytest.raises(ValidationError):
        services.reject(admin, req, "  ")
    services.reject(admin, req, "Use the shared one.")
    req.refresh_from_db()
    assert req.state == RequestState.REJECTED and req.reason == "Use the shared one."
    assert submit(alice, template, name="web-2").state == RequestState.PENDING


def test_cancel_by_the_requester_only(alice, bob, template):
    req = submit(alice, template)
    with pytest.raises(PermissionDenied):
        services.cancel(bob, req)
    assert services.cancel(alice, req).state == RequestState.CANCELLED
    with pytest.raises(ValidationError):
        services.cancel(alice, req)


def test_auto_policy_creates_the_vm_at_once(alice, auto_template, host, private_queue):
    req = submit(alice, auto_template)
    assert req.state == RequestState.PROVISIONED and req.auto_approved and req.vm.owner == alice


def test_auto_policy_without_a_fitting_host_fails_with_the_reason(alice, auto_template):
    req = submit(alice, auto_template)
    assert req.state == RequestState.FAILED and "host" in req.reason.lower()
    assert req.vm is None
    assert quotas.user_usage(alice).vms == 0  # a failed request holds nothing


def test_group_policy_wins_over_the_template_default(alice, bob, template, host, private_queue):
    students = Group.objects.create(name="students")
    alice.groups.add(students)
    services.set_policy(template, ApprovalMode.MANUAL)
    services.set_policy(template, ApprovalMode.AUTO, group=students)
    assert services.approval_mode(alice, template) == ApprovalMode.AUTO
    assert services.approval_mode(bob, template) == ApprovalMode.MANUAL


def test_quota_counts_vms_and_pending_requests(alice, template, host):
    quotas.set_quota(user=alice, max_vms=3, max_vcpus=3)
    make_vm(alice, host, "old-1", vcpus=2)
    make_vm(alice, host, "gone", state=VMState.DELETED, vcpus=2)
    submit(alice, template, name="new-1", vcpus=1)
    usage = quotas.user_usage(alice)
    assert (usage.vms, usage.vcpus) == (2, 3)
    with pytest.raises(ValidationError) as caught:
        submit(alice, template, name="new-2", vcpus=1)
    assert "quota" in caught.value.message_dict
    assert AuditEntry.objects.filter(action="request.submit", result="refused").exists()
    left = quotas.summary(alice)["by_key"]
    assert left["vms"]["left"] == 1 and left["vcpus"]["left"] == 0


def test_group_quota_covers_all_members(alice, bob, template):
    team = Group.objects.create(name="team")
    alice.groups.add(team)
    bob.groups.add(team)
    quotas.set_quota(group=team, max_vms=1)
    submit(alice, template, name="a-1")
    with pytest.raises(ValidationError) as caught:
        submit(bob, template, name="b-1")
    assert "team" in caught.value.message_dict["quota"][0]


def test_a_name_waiting_in_another_of_your_requests_is_taken(alice, bob, template):
    # Per requester (issue 13): another user's waiting names are not revealed (tests/portal/test_leaks.py).
    submit(alice, template, name="same")
    with pytest.raises(ValidationError) as caught:
        submit(alice, template, name="same")
    assert "name" in caught.value.message_dict


def test_quota_command_sets_and_shows(alice, capsys):
    call_command("quota", "alice", "--vms", "2", "--vcpus", "4", "--memory-mib", "1024", "--disk-gib", "10")
    row = Quota.objects.get(user=alice)
    assert (row.max_vms, row.max_vcpus, row.max_memory_mib, row.max_disk_gib) == (2, 4, 1024, 10)
    assert "0 used of 2" in capsys.readouterr().out
    assert AuditEntry.objects.filter(action="quota.set").exists()


def test_roles_and_sharing(alice, bob, operator, admin, host):
    vm = make_vm(alice, host, "shared-vm")
    other = make_vm(bob, host, "bobs-vm")
    assert can_view_vm(alice, vm) and not can_view_vm(bob, vm)
    assert can_operate_vm(operator, vm) and can_delete_vm(operator, vm)
    assert set(visible_vms(operator)) == {vm, other}
    with pytest.raises(PermissionDenied):
        sharing.share_vm(bob, vm, "bob", ShareLevel.OPERATE)
    share = sharing.share_vm(alice, vm, "bob", ShareLevel.VIEW)
    assert can_view_vm(bob, vm) and not can_operate_vm(bob, vm)
    sharing.share_vm(alice, vm, "bob", ShareLevel.OPERATE)
    assert can_operate_vm(bob, vm) and not can_delete_vm(bob, vm)
    assert set(visible_vms(bob)) == {vm, other}
    assert set(VMRequest.objects.none()) == set()
    assert vm.pk in set(v["pk"] for v in visible_vm_ids(bob))
    sharing.unshare_vm(alice, share)
    assert not can_view_vm(bob, vm) and set(visible_vms(bob)) == {other}
    assert [e.action for e in AuditEntry.objects.order_by("id")] == ["vm.share", "vm.share", "vm.unshare"]


def test_act_on_vm_checks_delete_rights_and_audits(alice, bob, host, private_queue):
    vm = make_vm(alice, host, "x")
    sharing.share_vm(alice, vm, "bob", ShareLevel.OPERATE)
    with pytest.raises(PermissionDenied):
        act_on_vm(bob, vm, "delete")
    job = act_on_vm(bob, vm, "reboot")
    assert job.kind == "vm.reboot"
    results = list(AuditEntry.objects.order_by("id").values_list("action", "result"))
    assert results[-2:] == [("vm.delete", "refused"), ("vm.reboot", "ok")]


def test_audit_visibility(alice, bob, admin, host):
    vm = make_vm(alice, host, "mine")
    audit_log.record(admin, "vm.start", vm)
    audit_log.record(bob, "vm.start", make_vm(bob, host, "his"))
    mine = list(visible_entries(alice))
    assert [e.object_name for e in mine] == ["mine"]
    assert visible_entries(admin).count() == 2
    assert audit_log.filter_entries(visible_entries(admin), actor="bob").count() == 1


def test_default_quota_applies_without_a_row(settings, template):
    settings.PORTAL_DEFAULT_QUOTA = {"max_vms": 1, "max_vcpus": 8, "max_memory_mib": 8192, "max_disk_gib": 10}
    carol = make_user("carol")
    submit(carol, template, name="c-1")
    with pytest.raises(ValidationError):
        submit(carol, template, name="c-2")
