"""Placement checks free space in the storage pool a template names (issue 14). Database rows only."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from sandbox import bootstrap
from tests.support.people import fake_host, make_user
from vms.choices import VMState
from vms.models import VirtualMachine
from vms.services import templates as template_services
from vms.services.placement import Need, NoHostAvailable, choose_host, why_not
from vms.services.vms import VMOrder, create_vm

pytestmark = pytest.mark.django_db
GIB = 2**30


def host_with_pools(name: str, **available_gib: int):
    host = fake_host(name, f"test:///{name}")
    host.capabilities["pools"] = [
        {"name": pool, "active": True, "capacity": 1000 * GIB, "allocation": 0, "available": gib * GIB}
        for pool, gib in available_gib.items()
    ]
    host.save()
    return host


@pytest.fixture
def template(db):
    template = bootstrap.ensure_demo_template()
    template.storage_pool = "fast"
    template.max_disk_gib = 50
    template.save()
    return template


def annotated(host):
    from vms.services.placement import _candidates

    return next(h for h in _candidates() if h.pk == host.pk)


def test_a_host_whose_chosen_pool_lacks_space_is_refused_with_the_pool_named(template):
    small = host_with_pools("small", default=900, fast=3)
    reason = why_not(annotated(small), template, Need(1, 128, 5))
    assert reason == "small has 3 GiB left in storage pool 'fast', 5 GiB needed."
    assert why_not(annotated(small), template, Need(1, 128, 2)) is None


def test_a_host_without_the_pool_is_refused(template):
    plain = host_with_pools("plain", default=900)
    assert "has no active storage pool 'fast'" in why_not(annotated(plain), template, Need(1, 128, 1))


def test_disks_of_our_vms_in_that_pool_count_others_do_not(template):
    host = host_with_pools("busy", default=10, fast=10)
    VirtualMachine.objects.create(name="in-fast", host=host, template=template, disk_gib=8, state=VMState.RUNNING)
    assert "2 GiB left in storage pool 'fast'" in why_not(annotated(host), template, Need(1, 128, 5))
    # A template of the default pool: none of those disks are there, 10 GiB free.
    plain = bootstrap.ensure_demo_template()
    plain.pk, plain.name, plain.storage_pool = None, "plain", ""
    plain.save()
    assert why_not(annotated(host), plain, Need(1, 128, 5)) is None


def test_placement_chooses_the_host_with_room_in_the_pool(template):
    small = host_with_pools("a-small", default=900, fast=1)
    roomy = host_with_pools("b-roomy", default=1, fast=100)
    assert choose_host(template, Need(1, 128, 20)) == roomy
    with pytest.raises(NoHostAvailable) as info:
        choose_host(template, Need(1, 128, 200))
    assert "storage pool 'fast'" in str(info.value)
    # A VM request that cannot be placed is refused, and nothing is recorded.
    with pytest.raises(ValidationError) as refused:
        create_vm(make_user("req"), VMOrder.with_defaults(template, "too-big", disk_gib=5, host=small))
    assert "a-small has 1 GiB left in storage pool 'fast', 5 GiB needed." in refused.value.message_dict["host"]
    assert not VirtualMachine.objects.filter(name="too-big").exists()


def test_the_template_field_takes_a_safe_pool_name_only(template):
    admin = make_user("boss", is_staff=True)
    updated = template_services.update_template(template, admin, storage_pool="fast-2")
    assert updated.storage_pool == "fast-2" and updated.versions.first().limits["storage_pool"] == "fast-2"
    with pytest.raises(ValidationError) as info:
        template_services.update_template(template, admin, storage_pool="../etc")
    assert "storage_pool" in info.value.message_dict
