"""Issue 13, hole 6: the audit log is append-only; every change made through Django admin is audited; a loop
of refused submissions cannot grow the log."""

from __future__ import annotations

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from audit import log as audit_log
from audit.models import AuditEntry
from portal import quotas
from portal.models import ApprovalPolicy, Quota, VMRequest
from tests.audit.admin_forms import submit
from tests.support.people import client_for
from vms.choices import ShareLevel
from vms.models import Host, Image, ImageFormat, ImageKind, VirtualMachine, VMShare

pytestmark = pytest.mark.django_db


def last(action: str) -> AuditEntry:
    entry = AuditEntry.objects.filter(action=action).order_by("-id").first()
    assert entry is not None, (
        f"no {action} entry; there are {list(AuditEntry.objects.values_list('action', flat=True))}"
    )
    return entry


# --- append-only ------------------------------------------------------------------------------------


def test_audit_entries_cannot_be_deleted_in_django_admin(admin, alice):
    entry = audit_log.record(alice, "vm.start")
    site = client_for(admin)
    assert site.get(f"/admin/audit/auditentry/{entry.pk}/delete/").status_code == 403
    assert site.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    changelist = site.get("/admin/audit/auditentry/")
    assert changelist.status_code == 200 and "delete_selected" not in changelist.content.decode()
    bulk = site.post(
        "/admin/audit/auditentry/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_audit_entries_cannot_be_deleted_or_changed_by_code(alice):
    entry = audit_log.record(alice, "vm.start")
    with pytest.raises(PermissionDenied):
        entry.delete()
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.all().delete()
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.update(action="vm.stop")
    entry.action = "vm.stop"
    with pytest.raises(PermissionDenied):
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).action == "vm.start"


def test_deleting_a_user_keeps_their_entries_by_name(alice):
    audit_log.record(alice, "vm.start")
    alice.delete()
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.actor_name) == (None, "alice")


# --- every ModelAdmin is audited --------------------------------------------------------------------------


def test_every_registered_model_admin_is_audited():
    from accounts.admin import AuditedAdmin

    unaudited = [
        f"{model._meta.label}: {type(model_admin).__name__}"
        for model, model_admin in django_admin.site._registry.items()
        if not isinstance(model_admin, AuditedAdmin)
    ]
    assert unaudited == []


def test_admin_changes_to_hosts_templates_images_are_audited(admin, host, template):
    site = client_for(admin)
    image = Image.objects.create(name="base", kind=ImageKind.BASE, format=ImageFormat.RAW, size=512, volume="b.img")
    assert submit(site, f"/admin/vms/host/{host.pk}/change/", notes="rack 7").status_code == 302
    assert submit(site, f"/admin/vms/vmtemplate/{template.pk}/change/", description="changed here").status_code == 302
    assert submit(site, f"/admin/vms/image/{image.pk}/change/", name="base-2").status_code == 302

    entry = last("host.change")
    assert (entry.actor, entry.object_id, entry.details["via"]) == (admin, str(host.pk), "admin")
    assert entry.details["fields"] == {"notes": "rack 7"}
    assert last("template.change").details["fields"] == {"description": "changed here"}
    assert last("image.change").details["fields"] == {"name": "base-2"}


def test_admin_changes_to_shares_quotas_and_policies_are_audited(admin, alice, bob, host, template):
    site = client_for(admin)
    vm = VirtualMachine.objects.create(name="v1", owner=alice, host=host, vcpus=1, memory_mib=128, disk_gib=1)
    added = submit(site, "/admin/vms/vmshare/add/", vm=vm.pk, user=bob.pk, level=ShareLevel.OPERATE)
    assert added.status_code == 302, added.content.decode()[:2000]
    assert VMShare.objects.filter(vm=vm, user=bob).exists()
    share_entry = last("share.add")
    assert share_entry.actor == admin and share_entry.details["fields"]["level"] == "operate"

    row = quotas.set_quota(user=alice, max_vms=3)
    assert submit(site, f"/admin/portal/quota/{row.pk}/change/", max_vms=50).status_code == 302
    assert Quota.objects.get(pk=row.pk).max_vms == 50
    assert last("quota.change").details["fields"] == {"max_vms": 50}

    added = submit(site, "/admin/portal/approvalpolicy/add/", template=template.pk, mode="auto")
    assert added.status_code == 302, added.content.decode()[:2000]
    policy = ApprovalPolicy.objects.get(template=template)
    assert last("policy.add").object_id == str(policy.pk)

    share = VMShare.objects.get(vm=vm, user=bob)
    assert site.post(f"/admin/vms/vmshare/{share.pk}/delete/", {"post": "yes"}).status_code == 302
    assert last("share.delete").object_id == str(share.pk)


def test_admin_changes_to_users_staff_and_active_flags_are_audited(admin, alice, bob):
    site = client_for(admin)
    operators = Group.objects.create(name="operators")
    made_staff = submit(site, f"/admin/auth/user/{alice.pk}/change/", is_staff="on", groups=[str(operators.pk)])
    assert made_staff.status_code == 302, made_staff.content.decode()[:2000]
    alice.refresh_from_db()
    assert alice.is_staff
    entry = last("user.change")
    assert (entry.actor, entry.object_type, entry.object_id) == (admin, "user", str(alice.pk))
    assert entry.details["fields"]["is_staff"] is True and entry.details["fields"]["groups"] == ["operators"]

    disabled = submit(site, f"/admin/auth/user/{bob.pk}/change/", is_active=None)
    assert disabled.status_code == 302
    assert last("user.change").details["fields"] == {"is_active": False}

    password = site.post(
        f"/admin/auth/user/{bob.pk}/password/", {"password1": "n3w-Secret-pw!", "password2": "n3w-Secret-pw!"}
    )
    assert password.status_code == 302
    assert last("user.password").object_id == str(bob.pk)
    assert "n3w" not in str(list(AuditEntry.objects.values_list("details", flat=True)))


def test_admin_deletions_one_and_many_are_audited(admin, alice, template):
    site = client_for(admin)
    hosts = [Host.objects.create(name=f"h{i}", uri=f"qemu+tcp://10.0.0.{i}/system") for i in (1, 2, 3)]
    assert site.post(f"/admin/vms/host/{hosts[0].pk}/delete/", {"post": "yes"}).status_code == 302
    bulk = site.post(
        "/admin/vms/host/",
        {"action": "delete_selected", "_selected_action": [hosts[1].pk, hosts[2].pk], "post": "yes"},
    )
    assert bulk.status_code == 302
    deleted = AuditEntry.objects.filter(action="host.delete").order_by("id")
    assert sorted(e.object_name for e in deleted) == ["h1", "h2", "h3"]
    assert all(e.details["via"] == "admin" and e.actor == admin for e in deleted)
    assert not Host.objects.filter(pk__in=[h.pk for h in hosts]).exists()


# --- refused submissions -------------------------------------------------------------------------------


def test_refused_submissions_are_rate_limited_per_user(alice, bob, template, settings):
    settings.PORTAL_REFUSED_SUBMISSIONS_PER_MINUTE = 3
    quotas.set_quota(user=alice, max_vms=0)
    api = client_for(alice)
    body = {"template": template.pk, "name": "loop-1"}

    def refused_entries() -> int:
        return AuditEntry.objects.filter(action="request.submit", result="refused", actor=alice).count()

    for _ in range(3):
        answer = api.post("/api/v1/requests/", body, content_type="application/json")
        assert answer.status_code == 400 and "quota" in answer.json()
    assert refused_entries() == 3
    for door in ("/api/v1/requests/", "/api/v1/vms/"):
        answer = api.post(door, body, content_type="application/json")
        assert answer.status_code == 429, (door, answer.status_code, answer.content)
        assert "Too many refused requests in a minute" in answer.json()["detail"]
        assert int(answer["Retry-After"]) >= 1
    page = api.post(
        "/request/", {"template": template.pk, "name": "loop-1", "vcpus": 1, "memory_mib": 128, "disk_gib": 1}
    )
    assert page.status_code == 200 and "Too many refused requests in a minute" in page.content.decode()
    assert refused_entries() == 3  # nothing more was written
    assert not VMRequest.objects.exists()

    # Per user: bob is not held back by alice's loop.
    assert client_for(bob).post("/api/v1/requests/", body, content_type="application/json").status_code == 201
