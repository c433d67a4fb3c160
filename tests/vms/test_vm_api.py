"""The VM list API: paginated, and a user sees only their own VMs."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from vms.models import Host, VirtualMachine

pytestmark = pytest.mark.django_db


def test_vm_list_is_paginated_and_scoped_to_the_user():
    User = get_user_model()
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    host = Host.objects.create(name="h1", uri="test:///default")
    VirtualMachine.objects.bulk_create(
        [VirtualMachine(name=f"a-{i:03d}", owner=alice, host=host) for i in range(130)]
        + [VirtualMachine(name="b-000", owner=bob, host=host)]
    )
    client = APIClient()
    client.force_authenticate(alice)
    first = client.get("/api/v1/vms/").json()
    assert first["count"] == 130 and len(first["results"]) == 100 and first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 30 and second["next"] is None
    names = {vm["name"] for vm in first["results"] + second["results"]}
    assert "b-000" not in names and len(names) == 130
    assert len(client.get("/api/v1/vms/?page_size=5000").json()["results"]) == 130
