"""Parallel disk adds against a disk quota: exactly what fits gets through (PostgreSQL, real connections).

Each VM takes one job at a time, so the racers are ten VMs of one owner, each asking for a 1 GiB disk
at the same moment with room for five. The quota check and the GiB counted into the VM happen in the
transaction that queues the job (vms.services.disks: prepare), under the owner's quota row lock.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kvmdash pytest tests/portal/test_disk_quota_race.py
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.db.models import Sum

from jobs.models import Job
from portal import quotas
from tests.portal.conftest import make_vm
from vms.models import VirtualMachine
from vms.services import disks as disk_services

pytestmark = pytest.mark.django_db(transaction=True)

VMS = 10
ROOM = 5


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the race needs real concurrent transactions: set DATABASE_URL=postgres://... to run it")


def test_parallel_disk_adds_hold_the_disk_quota_exactly(alice, template, host, private_queue):
    vms = []
    for i in range(VMS):
        vm = make_vm(alice, host, f"disk-race-{i}", disk_gib=1)
        VirtualMachine.objects.filter(pk=vm.pk).update(template=template)
        vms.append(VirtualMachine.objects.get(pk=vm.pk))
    quotas.set_quota(user=alice, max_vms=100, max_vcpus=100, max_memory_mib=100000, max_disk_gib=VMS + ROOM)
    barrier = threading.Barrier(VMS)

    def one(vm):
        try:
            barrier.wait(timeout=30)
            return disk_services.add_disk(alice, vm, 1, "virtio")
        except ValidationError as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(VMS) as pool:
        results = list(pool.map(one, vms))
    accepted = [r for r in results if isinstance(r, Job)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(accepted) == ROOM and len(refused) == VMS - ROOM
    assert all("quota" in r.message_dict for r in refused)
    # Counted exactly once per accepted disk; the refused left their VMs as they were.
    total = VirtualMachine.objects.filter(owner=alice).aggregate(s=Sum("disk_gib"))["s"]
    assert total == VMS + ROOM
    assert Job.objects.filter(kind="vm.disk-add").count() == ROOM
