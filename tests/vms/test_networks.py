"""The Networks page and API on the real sandbox fleet: define on several hosts, start, stop, autostart,
delete (refused while a VM of ours uses the network), bad input, admins only; and placement."""

from __future__ import annotations

import ipaddress
import random
import uuid

import libvirt
import pytest
from django.urls import reverse
from lxml import etree

from audit.models import AuditEntry
from tests.support.people import client_for, fake_host
from vms.choices import VMState
from vms.hypervisor.connection import open_connection
from vms.hypervisor.networks import network_xml
from vms.models import HostNetwork, VirtualMachine, VMTemplate
from vms.services import networks as network_services
from vms.services.placement import Need, NoHostAvailable, choose_host, why_not

pytestmark = pytest.mark.django_db
PREFIX = "tnet-"


def _libvirt_network(host, name) -> dict | None:
    """What the host itself says about the network (not our stored copy): None when it has none."""
    conn = open_connection(host.uri)
    try:
        net = conn.networkLookupByName(name)
    except libvirt.libvirtError:
        return None
    else:
        return {"active": bool(net.isActive()), "autostart": bool(net.autostart()), "xml": net.XMLDesc(0)}
    finally:
        conn.close()


def _names_on(host) -> set[str]:
    conn = open_connection(host.uri)
    try:
        return {n.name() for n in conn.listAllNetworks(0)}
    finally:
        conn.close()


@pytest.fixture
def hosts(fleet_hosts):
    """The sandbox hosts; every network these tests made is removed from them afterwards."""
    yield fleet_hosts
    for host in fleet_hosts:
        conn = open_connection(host.uri)
        try:
            for net in conn.listAllNetworks(0):
                if net.name().startswith(PREFIX):
                    if net.isActive():
                        net.destroy()
                    if net.isPersistent():
                        net.undefine()
        finally:
            conn.close()


@pytest.fixture
def net_name() -> str:
    return f"{PREFIX}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def subnet() -> str:
    # Sandbox hosts share this machine's network stack (and other checkouts' fleets do too): a random
    # private /24 keeps two runs from asking for the same route.
    return f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"


def _define(client, name, host_list, subnet, mode="nat", **extra):
    data = {"name": name, "hosts": [h.pk for h in host_list], "mode": mode, "subnet": subnet, "dhcp": "on", **extra}
    return client.post(reverse("manage-networks"), data, follow=True)


def test_define_nat_network_on_two_hosts_at_once(hosts, admin, net_name, subnet):
    first, second = hosts[0], hosts[1]
    response = _define(client_for(admin), net_name, [first, second], subnet)
    assert response.status_code == 200
    text = response.content.decode()

    on_first = _libvirt_network(first, net_name)
    assert on_first and on_first["active"] and on_first["autostart"]
    root = etree.fromstring(on_first["xml"].encode())
    assert root.find("forward").get("mode") == "nat"
    net = ipaddress.ip_network(subnet)
    hosts_in = list(net.hosts())
    assert root.find("ip").get("address") == str(hosts_in[0])
    assert root.find("ip/dhcp/range").get("start") == str(hosts_in[1])
    assert root.find("ip/dhcp/range").get("end") == str(hosts_in[-1])

    on_second = _libvirt_network(second, net_name)
    if on_second is not None:
        assert on_second["active"] and on_second["autostart"]
    else:
        # The sandbox hosts share one network stack, so libvirt on the second host refuses a subnet the
        # first already routes. Real hosts each have their own; here this is the partial failure: it
        # names the host and carries libvirt's message, and the first host keeps its network.
        assert f"Could not define network {net_name} on {second.name}" in text
        assert "already in use" in text
    assert f"Network {net_name} is defined and started on {first.name}" in text
    # The page lists it from the stored facts, with an id per host.
    assert HostNetwork.objects.filter(host=first, name=net_name).exists()
    page = client_for(admin).get(reverse("manage-networks")).content.decode()
    assert net_name in page and "data-network=" in page
    assert AuditEntry.objects.filter(action="network.define", details__host=first.name).exists()


def test_start_stop_autostart_and_list_through_the_api(hosts, admin, net_name, subnet):
    host = hosts[0]
    api = client_for(admin)
    answer = api.post(
        "/api/v1/networks/",
        {"name": net_name, "hosts": [host.pk], "mode": "nat", "subnet": subnet, "dhcp": False},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    result = answer.json()["results"][0]
    assert result["ok"] and result["error"] == ""
    network = result["network"]
    assert network["name"] == net_name and network["active"] and network["forward"] == "nat"
    assert network["subnet"] == subnet and network["dhcp"] == ""
    pk = network["id"]

    listed = api.get(f"/api/v1/hosts/{host.pk}/networks/").json()
    assert [n["id"] for n in listed if n["name"] == net_name] == [pk]

    assert api.post(f"/api/v1/networks/{pk}/stop/").json()["network"]["active"] is False
    assert _libvirt_network(host, net_name)["active"] is False
    assert api.post(f"/api/v1/networks/{pk}/start/").json()["network"]["active"] is True
    assert _libvirt_network(host, net_name)["active"] is True
    answer = api.post(f"/api/v1/networks/{pk}/autostart/", {"autostart": False}, content_type="application/json")
    assert answer.json()["network"]["autostart"] is False
    assert _libvirt_network(host, net_name)["autostart"] is False
    assert api.post(f"/api/v1/networks/{pk}/autostart/", {}, content_type="application/json").status_code == 400

    # The page's buttons do the same.
    page = client_for(admin)
    page.post(reverse("manage-network-action", args=[pk]), {"action": "stop"})
    assert _libvirt_network(host, net_name)["active"] is False
    page.post(reverse("manage-network-action", args=[pk]), {"action": "autostart-on"})
    assert _libvirt_network(host, net_name)["autostart"] is True
    page.post(reverse("manage-network-action", args=[pk]), {"action": "start"})
    assert _libvirt_network(host, net_name)["active"] is True


def test_delete_is_refused_while_a_vm_of_ours_uses_the_network(hosts, admin, net_name, subnet):
    host = hosts[0]
    api = client_for(admin)
    network = api.post(
        "/api/v1/networks/",
        {"name": net_name, "hosts": [host.pk], "mode": "route", "subnet": subnet},
        content_type="application/json",
    ).json()["results"][0]["network"]
    xml = f"<domain><devices><interface type='network'><source network='{net_name}'/></interface></devices></domain>"
    vm = VirtualMachine.objects.create(name="uses-net", host=host, state=VMState.STOPPED, domain_xml=xml)

    answer = api.delete(f"/api/v1/networks/{network['id']}/")
    assert answer.status_code == 409
    assert "uses-net" in answer.json()["detail"]
    page = client_for(admin).post(
        reverse("manage-network-action", args=[network["id"]]), {"action": "delete"}, follow=True
    )
    assert "uses-net" in page.content.decode()
    assert _libvirt_network(host, net_name) is not None  # nothing deleted
    assert AuditEntry.objects.filter(action="network.delete", result="refused").count() == 2

    vm.state = VMState.DELETED
    vm.save()
    assert api.delete(f"/api/v1/networks/{network['id']}/").status_code == 204
    assert _libvirt_network(host, net_name) is None
    assert not HostNetwork.objects.filter(pk=network["id"]).exists()
    assert AuditEntry.objects.filter(action="network.delete", result="ok").exists()


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"subnet": "10.1.2.300/24"}, "subnet", "is not a subnet"),
        ({"subnet": "10.1.2.5/24"}, "subnet", "host bits"),
        ({"subnet": "8.8.8.0/24"}, "subnet", "not a private range"),
        ({"subnet": "fd00::/64"}, "subnet", "IPv4"),
        ({"mode": "bridge", "subnet": ""}, "bridge", "needs the name of a bridge"),
        ({"name": "bad name/../x"}, "name", "letters, digits"),
        ({"hosts": []}, "hosts", ""),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(hosts, admin, net_name, subnet, change, field, words):
    host = hosts[0]
    before = _names_on(host)
    # The page reads every network the hosts have (their `default` too): count only this test's own.
    rows = HostNetwork.objects.filter(name__startswith=PREFIX).count()
    data = {"name": net_name, "hosts": [host.pk], "mode": "nat", "subnet": subnet, "dhcp": True, **change}
    answer = client_for(admin).post("/api/v1/networks/", data, content_type="application/json")
    assert answer.status_code == 400
    assert field in answer.json()
    assert words in " ".join(answer.json()[field])
    page = client_for(admin).post(reverse("manage-networks"), {**data, "dhcp": "on"})
    assert page.status_code == 200 and 'class="error-summary"' in page.content.decode()
    assert _names_on(host) == before
    assert HostNetwork.objects.filter(name__startswith=PREFIX).count() == rows
    assert not AuditEntry.objects.filter(action="network.define").exists()


def test_a_duplicate_name_is_refused_naming_the_host(hosts, admin, net_name, subnet):
    host = hosts[0]
    api = client_for(admin)
    body = {"name": net_name, "hosts": [host.pk], "mode": "nat", "subnet": subnet}
    assert api.post("/api/v1/networks/", body, content_type="application/json").status_code == 201
    again = api.post("/api/v1/networks/", {**body, "subnet": "172.31.250.0/24"}, content_type="application/json")
    assert again.status_code == 400
    assert f"already exists on {host.name}" in " ".join(again.json()["name"])
    # and an overlapping subnet on the same host is refused too
    other = api.post(
        "/api/v1/networks/", {**body, "name": net_name + "b", "subnet": subnet}, content_type="application/json"
    )
    assert other.status_code == 400 and "overlaps" in " ".join(other.json()["subnet"])
    assert {n for n in _names_on(host) if n.startswith(net_name)} == {net_name}


def test_bridge_mode_xml_and_a_missing_bridge(hosts, admin, net_name):
    xml = etree.fromstring(network_xml("lan", "bridge", bridge="br0").encode())
    assert xml.find("forward").get("mode") == "bridge" and xml.find("bridge").get("name") == "br0"
    assert xml.find("ip") is None
    # User strings are values: a hostile name stays one text node.
    hostile = etree.fromstring(network_xml("a'<b/>", "nat", subnet=ipaddress.ip_network("10.9.9.0/24")).encode())
    assert hostile.findtext("name") == "a'<b/>" and hostile.find("name/b") is None

    # Defining on a real bridge waits for br0 on the sandbox hosts; a bridge the host lacks is refused
    # from its stored facts, before libvirt is asked.
    host = hosts[0]
    answer = client_for(admin).post(
        "/api/v1/networks/",
        {"name": net_name, "hosts": [host.pk], "mode": "bridge", "bridge": "br-none"},
        content_type="application/json",
    )
    assert answer.status_code == 400 and f"no bridge br-none on {host.name}" in " ".join(answer.json()["bridge"])


def test_only_admins(hosts, alice):
    host = hosts[0]
    row = HostNetwork.objects.create(host=host, name="x")
    user = client_for(alice)
    assert user.get(reverse("manage-networks")).status_code == 403
    assert user.post(reverse("manage-network-action", args=[row.pk]), {"action": "start"}).status_code == 403
    assert user.get(f"/api/v1/hosts/{host.pk}/networks/").status_code == 403
    assert user.post("/api/v1/networks/", {}, content_type="application/json").status_code == 403
    assert user.post(f"/api/v1/networks/{row.pk}/start/").status_code == 403
    assert user.post(f"/api/v1/networks/{row.pk}/stop/").status_code == 403
    assert user.delete(f"/api/v1/networks/{row.pk}/").status_code == 403


def test_placement_refuses_a_host_without_the_templates_network_or_bridge():
    has_lab = fake_host("has-lab")
    has_lab.capabilities = {
        **has_lab.capabilities,
        "networks": [{"name": "lab", "active": True, "bridge": "virbr9"}],
        "bridges": ["br0"],
        "bridges_known": True,
    }
    has_lab.save()
    lacks = fake_host("lacks-lab", uri="test:///other")
    lacks.capabilities = {**lacks.capabilities, "networks": [{"name": "lab", "active": False}], "bridges_known": True}
    lacks.save()
    lab = VMTemplate.objects.create(
        name="lab-net",
        domain_xml="<domain><devices><interface type='network'><source network='lab'/></interface></devices></domain>",
    )
    need = Need(1, 512, 0)
    for host in (has_lab, lacks):  # what placement's query annotates: nothing reserved yet
        host.reserved_memory = host.reserved_disk = 0
    assert why_not(has_lab, lab, need) is None
    assert "no active libvirt network lab" in why_not(lacks, lab, need)
    assert choose_host(lab, need).name == "has-lab"
    with pytest.raises(NoHostAvailable, match="lacks-lab has no active libvirt network lab"):
        choose_host(lab, need, preferred=lacks)

    bridged = VMTemplate.objects.create(
        name="bridged",
        domain_xml="<domain><devices><interface type='bridge'><source bridge='br0'/></interface></devices></domain>",
    )
    assert why_not(has_lab, bridged, need) is None
    assert "no bridge br0" in why_not(lacks, bridged, need)
    # A host whose facts cannot tell (never checked, no interface driver) is not refused for it.
    unknown = fake_host("unknown", uri="test:///third")
    unknown.reserved_memory = unknown.reserved_disk = 0
    assert why_not(unknown, lab, need) is None and why_not(unknown, bridged, need) is None


def test_vms_using_reads_our_vms_domain_xml():
    host = fake_host()
    xml = "<domain><devices><interface type='bridge'><source bridge='virbr7'/></interface></devices></domain>"
    VirtualMachine.objects.create(name="on-bridge", host=host, state=VMState.RUNNING, domain_xml=xml)
    VirtualMachine.objects.create(name="gone", host=host, state=VMState.DELETED, domain_xml=xml)
    VirtualMachine.objects.create(name="broken", host=host, state=VMState.RUNNING, domain_xml="<domain")
    assert [vm.name for vm in network_services.vms_using(host, "lab", "virbr7")] == ["on-bridge"]
    assert network_services.vms_using(host, "lab", "") == []
