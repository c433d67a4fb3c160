"""A template's maximum for live resize and autostart, through the API: stored, versioned, checked, and
built into each VM's domain XML (<vcpu current>, <memory> above <currentMemory>)."""

from __future__ import annotations

from rest_framework.test import APIClient

from vms.domainxml import Domain
from vms.domainxml.vm import VMSpec, build_vm_domain
from vms.services.templates import import_template


def test_live_maximum_is_an_api_field_checked_against_the_maximum(son_xml, admin_user):
    template = import_template("live", son_xml, admin_user)
    client = APIClient()
    client.force_authenticate(admin_user)
    url = f"/api/v1/templates/{template.pk}/"
    too_big = client.patch(url, {"max_live_vcpus": template.max_vcpus + 1}, format="json")
    assert too_big.status_code == 400 and "max_live_vcpus" in too_big.json(), too_big.json()
    ok = client.patch(url, {"max_live_vcpus": 2, "max_live_memory_mib": 1024, "autostart": True}, format="json")
    assert ok.status_code == 200, ok.json()
    template.refresh_from_db()
    assert (template.max_live_vcpus, template.max_live_memory_mib, template.autostart) == (2, 1024, True)
    assert client.get(url).json()["max_live_memory_mib"] == 1024


def test_vm_domain_has_room_to_grow_live(son_xml):
    spec = VMSpec("5e9d3a52-7a8f-4c41-9a55-0d6f7e2b8c11", "grow", 1, 256, None, "qcow2", "o", None, None, 4, 1024)
    dom = Domain.from_xml(build_vm_domain(son_xml, spec).to_xml())
    assert (dom.vcpu, dom.vcpu_current) == (4, 1)
    assert (dom.memory, dom.current_memory) == (1024 * 1024, 256 * 1024)
    # No live room: the size is the maximum.
    dom = Domain.from_xml(
        build_vm_domain(
            son_xml, VMSpec("5e9d3a52-7a8f-4c41-9a55-0d6f7e2b8c12", "x", 2, 512, None, "qcow2", "o")
        ).to_xml()
    )
    assert dom.vcpu == 2 and dom.memory == dom.current_memory == 512 * 1024
