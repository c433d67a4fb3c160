"""Parallel resizes against a quota: exactly what is left gets through, on SQLite and PostgreSQL.

Each thread has its own database connection (Django's are per thread) and resizes its own VM (one job
per VM would otherwise refuse all but one). The quota check and the new size on the VM row happen in
the one transaction that queues the job (vms.services.vm_update), after the user's Quota row is locked
(PostgreSQL: SELECT ... FOR UPDATE; SQLite: every transaction is BEGIN IMMEDIATE): no two can both fit.
The jobs go to a queue nobody reads: the race is about the booking, not the host.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Sum

from jobs.models import Job
from portal import quotas
from tests.portal.conftest import make_vm
from vms.choices import VMState
from vms.models import VirtualMachine
from vms.services.vm_update import update_vm

pytestmark = pytest.mark.django_db(transaction=True)

PARALLEL = 12
LEFT = 5


def race(user, vms, **change) -> list[object]:
    barrier = threading.Barrier(len(vms))

    def one(vm):
        try:
            barrier.wait(timeout=30)
            return update_vm(user, vm, change)
        except ValidationError as exc:
            return exc
        finally:
            connections.close_all()  # this thread's own connection

    with ThreadPoolExecutor(len(vms)) as pool:
        return list(pool.map(one, vms))


@pytest.fixture
def vms(alice, host, template, private_queue):
    made = [make_vm(alice, host, f"grow-{i}", state=VMState.STOPPED, vcpus=1, memory_mib=128) for i in range(PARALLEL)]
    VirtualMachine.objects.filter(pk__in=[vm.pk for vm in made]).update(template=template)
    return list(VirtualMachine.objects.filter(pk__in=[vm.pk for vm in made]).select_related("template", "host"))


def test_parallel_vcpu_growth_holds_the_quota_exactly(alice, vms):
    quotas.set_quota(user=alice, max_vms=100, max_vcpus=PARALLEL + LEFT, max_memory_mib=100000, max_disk_gib=1000)
    results = race(alice, vms, vcpus=2)
    accepted = [r for r in results if isinstance(r, Job)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(accepted) == LEFT and len(refused) == PARALLEL - LEFT, results
    assert all("quota" in r.message_dict for r in refused)
    mine = VirtualMachine.objects.filter(owner=alice)
    assert mine.aggregate(n=Sum("vcpus"))["n"] == PARALLEL + LEFT
    assert Job.objects.filter(kind="vm.update").count() == LEFT


def test_parallel_memory_growth_holds_the_quota_exactly(alice, vms):
    quotas.set_quota(user=alice, max_vms=100, max_vcpus=100, max_memory_mib=PARALLEL * 128 + LEFT * 256)
    results = race(alice, vms, memory_mib=384)  # +256 MiB each
    accepted = [r for r in results if isinstance(r, Job)]
    assert len(accepted) == LEFT, results
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert refused and "Memory (MiB)" in refused[0].message_dict["quota"][0]
    assert VirtualMachine.objects.filter(owner=alice).aggregate(n=Sum("memory_mib"))["n"] == PARALLEL * 128 + LEFT * 256


def test_shrinking_needs_no_quota(alice, vms):
    VirtualMachine.objects.filter(pk=vms[0].pk).update(vcpus=2)
    quotas.set_quota(user=alice, max_vms=100, max_vcpus=1, max_memory_mib=1, max_disk_gib=1)  # over already
    vm = VirtualMachine.objects.select_related("template").get(pk=vms[0].pk)
    assert isinstance(update_vm(alice, vm, {"vcpus": 1}), Job)
    vm.refresh_from_db()
    assert vm.vcpus == 1
