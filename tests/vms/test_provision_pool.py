"""A template that names a storage pool: its VMs' disks are made there, and removed from there (issue 14)."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from jobs.choices import JobState
from jobs.models import Job
from tests.support.worker import wait_for
from tests.vms.test_storage import remove_pool, volume_names
from vms.choices import VMState
from vms.models import VirtualMachine
from vms.services import storage

pytestmark = [pytest.mark.sandbox, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_disk_goes_to_the_templates_pool_and_leaves_with_the_vm(
    admin_user, vm_worker, jobs_to_test_queue, fleet_hosts, demo_template
):
    host = fleet_hosts[0]
    pool = f"t{uuid.uuid4().hex[:8]}"
    storage.define_pool(host, pool, f"/var/lib/libvirt/test-pools/{pool}", admin_user)
    api = APIClient()
    api.force_authenticate(admin_user)
    try:
        answer = api.patch(f"/api/v1/templates/{demo_template.pk}/", {"storage_pool": pool}, format="json")
        assert answer.status_code == 200 and answer.json()["storage_pool"] == pool
        created = api.post(
            "/api/v1/vms/", {"template": demo_template.pk, "name": "in-pool", "host": host.pk}, format="json"
        )
        assert created.status_code == 202, created.json()
        vm = VirtualMachine.objects.get(pk=created.json()["id"])
        job = wait_for(Job.objects.get(pk=created.json()["job"]["id"]), vm_worker, timeout=120)
        assert job.state == JobState.SUCCEEDED, (job.error, job.log)
        disk = f"{vm.uuid}-disk0.qcow2"
        assert disk in volume_names(host.uri, pool)
        assert disk not in volume_names(host.uri, "default")
        owners = {v.name: v.owner_name for v in storage.pool_volumes(host, pool)}
        assert owners[disk] == "in-pool"

        deleted = api.delete(f"/api/v1/vms/{vm.pk}/")
        assert deleted.status_code == 202, deleted.json()
        job = wait_for(Job.objects.get(pk=deleted.json()["id"]), vm_worker, timeout=120)
        assert job.state == JobState.SUCCEEDED, (job.error, job.log)
        vm.refresh_from_db()
        assert vm.state == VMState.DELETED
        assert disk not in volume_names(host.uri, pool)
    finally:
        remove_pool(host.uri, pool)
