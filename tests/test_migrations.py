"""A database made before the audit log and VM shares moved out of the portal keeps every row."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# The newest migrations of the commit before the move: what an existing database has applied.
BEFORE_MOVE = [("portal", "0001_initial"), ("vms", "0003_template_versions_images"), ("jobs", "0001_initial")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_rows_made_before_the_move_are_there_after_it():
    old = _migrate(BEFORE_MOVE)
    User = old.get_model("auth", "User")
    Host = old.get_model("vms", "Host")
    Template = old.get_model("vms", "VMTemplate")
    VM = old.get_model("vms", "VirtualMachine")
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    host = Host.objects.create(name="h1", uri="test:///default")
    template = Template.objects.create(name="t1", domain_xml="<domain type='kvm'/>")
    vm = VM.objects.create(name="vm1", owner=alice, host=host, template=template)
    old.get_model("portal", "VMShare").objects.create(vm=vm, user=bob, level="operate", created_by=alice)
    old.get_model("portal", "AuditEntry").objects.create(
        actor=alice, actor_name="alice", action="vm.share", object_type="vm", object_id=str(vm.pk), details={"x": 1}
    )

    call_command("migrate", verbosity=0)

    from audit.models import AuditEntry
    from vms.models import VMShare

    share = VMShare.objects.get()
    assert (share.vm.name, share.user.username, share.level) == ("vm1", "bob", "operate")
    entry = AuditEntry.objects.get()
    assert (entry.actor.username, entry.action, entry.details) == ("alice", "vm.share", {"x": 1})
