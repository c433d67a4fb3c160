"""The snapshot rules without a fleet: which disks can hold internal snapshots, the snapshot XML
(user words stay values), the tree the page draws, and the limit held while a create is queued."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone
from lxml import etree

from jobs.errors import TargetBusy
from tests.support.people import fake_host, make_user
from tests.support.worker import forget_queue
from vms.hypervisor.snapshots import SnapshotsUnsupported, blocking_disks, check_supported, snapshot_xml
from vms.models import VirtualMachine
from vms.services import snapshots as services


def domain(*disks: str) -> str:
    return f"<domain type='kvm'><name>d</name><devices>{''.join(disks)}</devices></domain>"


QCOW2 = (
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/p/a.qcow2'/>"
    "<target dev='vda'/></disk>"
)
RAW = (
    "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/p/b.img'/>"
    "<target dev='vdb'/></disk>"
)
RAW_READONLY = (
    "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/p/c.img'/>"
    "<target dev='vdc'/><readonly/></disk>"
)
SEED_CDROM = (
    "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/p/seed.iso'/>"
    "<target dev='sda'/><readonly/></disk>"
)
EMPTY_CDROM = "<disk type='file' device='cdrom'><target dev='sdb'/><readonly/></disk>"


def test_only_writable_disks_that_are_not_qcow2_block_snapshots():
    assert blocking_disks(domain(QCOW2, RAW_READONLY, SEED_CDROM, EMPTY_CDROM)) == []
    assert blocking_disks(domain(QCOW2, RAW)) == [("vdb", "raw")]
    with pytest.raises(SnapshotsUnsupported, match=r"vdb \(raw\) is not qcow2.*template must use qcow2"):
        check_supported(domain(QCOW2, RAW))


def test_the_snapshot_xml_asks_for_internal_snapshots_of_writable_disks_and_keeps_words_as_text():
    xml = snapshot_xml(domain(QCOW2, SEED_CDROM), "before", "<b>&amp; upgrade</b>")
    root = etree.fromstring(xml)
    assert root.findtext("name") == "before"
    assert root.findtext("description") == "<b>&amp; upgrade</b>"  # text, never markup
    assert [(d.get("name"), d.get("snapshot")) for d in root.iterfind("disks/disk")] == [
        ("vda", "internal"),
        ("sda", "no"),
    ]


# Tests use the django_db mark, not the `db` fixture: with `db`, the folder's cleanup would look for
# these VMs on their (fake) host.
@pytest.fixture
def vm():
    owner = make_user("owner")
    return VirtualMachine.objects.create(
        name="v", host=fake_host(), owner=owner, state="running", memory_mib=256, domain_xml=domain(QCOW2)
    )


@pytest.mark.django_db
def test_the_tree_nests_children_under_their_parents(vm):
    now = timezone.now()
    for name, parent in (("a", ""), ("b", "a"), ("c", "a"), ("d", "c"), ("e", "")):
        vm.snapshots.create(name=name, parent=parent, created_at=now)
    tree = services.snapshot_tree(vm)

    def names(nodes):
        return [(n["snapshot"].name, names(n["children"])) for n in nodes]

    assert names(tree) == [("a", [("b", []), ("c", [("d", [])])]), ("e", [])]


@pytest.mark.django_db
def test_the_limit_is_the_templates_else_the_deployments(vm, settings):
    settings.VM_SNAPSHOT_LIMIT = 3
    assert services.snapshot_limit(vm) == 3
    vm.snapshots.create(name="a", created_at=timezone.now())
    vm.snapshots.create(name="b", created_at=timezone.now())
    vm.snapshots.create(name="c", created_at=timezone.now())
    assert "limit of 3 snapshots" in services.refusal(vm)
    from sandbox import bootstrap

    vm.template = bootstrap.ensure_demo_template()
    vm.template.snapshot_limit = 4
    assert services.snapshot_limit(vm) == 4 and services.refusal(vm) is None
    vm.template.snapshot_limit = 0  # 0 is a limit (none), not "unset"
    assert services.snapshot_limit(vm) == 0


@pytest.mark.django_db(transaction=True)
def test_a_second_create_waits_for_the_first_so_the_limit_holds(settings):
    """The limit is counted when the job is queued; while one create is queued, another is refused
    (one job per VM), so two quick creates cannot both pass a limit of one."""
    queue = f"snap-rules-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue  # nobody runs it: the first job stays queued
    settings.VM_SNAPSHOT_LIMIT = 1
    owner = make_user("owner")
    vm = VirtualMachine.objects.create(
        name="v", host=fake_host(), owner=owner, state="running", memory_mib=256, domain_xml=domain(QCOW2)
    )
    try:
        services.take_snapshot(owner, vm, "one")
        with pytest.raises(TargetBusy):
            services.take_snapshot(owner, vm, "two")
    finally:
        forget_queue(queue)


@pytest.mark.django_db
def test_a_failed_create_may_run_again_while_the_same_request_would_pass(vm, settings):
    from jobs.errors import JobNotAllowed, RetryRefused
    from jobs.models import Job
    from jobs.targets import target_for

    settings.VM_SNAPSHOT_LIMIT = 1
    job = Job.objects.create(kind="vm.snapshot-create", target=target_for(vm), params={"name": "one"}, state="failed")
    services.check_retry(vm.owner, job)  # allowed
    vm.snapshots.create(name="one", created_at=timezone.now())  # its first attempt got this far
    services.check_retry(vm.owner, job)
    vm.snapshots.create(name="other", created_at=timezone.now())
    with pytest.raises(RetryRefused, match="limit of 1"):
        services.check_retry(vm.owner, job)
    with pytest.raises(JobNotAllowed):
        services.check_retry(make_user("stranger"), job)
