"""The VM API: the list is paginated and scoped to the user; bad ids are 404; a busy VM is 409.
(And the VM list page's search, which must not pass control characters to the database.)"""

import json
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from jobs.models import Job
from jobs.services import enqueue
from jobs.targets import target_for
from live.redis import sync_redis
from vms.choices import ImageFormat, ImageKind, VMState
from vms.models import Host, Image, VirtualMachine, VMTemplate
from vms.watcher.store import addresses_key

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


@pytest.fixture
def alice_api():
    alice = get_user_model().objects.create_user("alice")
    client = APIClient()
    client.force_authenticate(alice)
    return alice, client


@pytest.mark.parametrize("bad", ["abc", "None", "1.5", "-1", "0", "99999999999999999999999", str(uuid.uuid4())])
def test_a_malformed_or_unknown_vm_id_is_404_not_500(alice_api, bad):
    _alice, client = alice_api
    for response in (
        client.get(f"/api/v1/vms/{bad}/"),
        client.delete(f"/api/v1/vms/{bad}/"),
        client.post(f"/api/v1/vms/{bad}/actions/start/"),
    ):
        assert response.status_code == 404, (bad, response.content)
        assert response["Content-Type"] == "application/json"


def test_an_api_url_no_route_matches_is_a_json_404(alice_api):
    _alice, client = alice_api
    response = client.post("/api/v1/vms/1/actions/START/")  # the action must be lower case
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_an_action_refused_because_another_job_runs_is_409(alice_api):
    alice, client = alice_api
    vm = VirtualMachine.objects.create(name="busy-1", owner=alice, state=VMState.STOPPED)
    blocking = enqueue("vm.start", target_for(vm), alice)
    expected = {
        "detail": f"Another job (#{blocking.pk}, Start) is still running on this target; wait for it to finish.",
        "code": "conflict",
        "blocking_job": blocking.pk,
    }
    started = client.post(f"/api/v1/vms/{vm.pk}/actions/start/")
    assert (started.status_code, started.json()) == (409, expected)
    deleted = client.delete(f"/api/v1/vms/{vm.pk}/")
    assert (deleted.status_code, deleted.json()) == (409, expected)
    assert Job.objects.filter(target=target_for(vm)).count() == 1
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED


def test_real_input_errors_stay_400(alice_api):
    alice, client = alice_api
    vm = VirtualMachine.objects.create(name="idle-1", owner=alice, state=VMState.STOPPED)
    unknown = client.post(f"/api/v1/vms/{vm.pk}/actions/fly/")
    assert unknown.status_code == 400 and "Unknown action 'fly'" in unknown.json()["action"]
    wrong_state = client.post(f"/api/v1/vms/{vm.pk}/actions/shutdown/")
    assert wrong_state.status_code == 400
    assert wrong_state.json() == {"action": ["Cannot shut down a VM that is stopped."]}


def test_the_vm_list_page_search_ignores_control_characters(alice_api):
    alice, _client = alice_api
    VirtualMachine.objects.create(name="web-1", owner=alice)
    client = Client()
    client.force_login(alice)
    response = client.get("/vms/", {"q": "web\x00"})  # PostgreSQL refuses NUL in a query: was a 500
    assert response.status_code == 200 and "web-1" in response.content.decode()


def test_deleting_a_host_that_still_has_vms_is_a_409_that_names_them():
    admin = get_user_model().objects.create_user("boss", is_staff=True)
    host = Host.objects.create(name="h1", uri="test:///default")
    VirtualMachine.objects.create(name="web-1", owner=admin, host=host)
    client = APIClient()
    client.force_authenticate(admin)
    response = client.delete(f"/api/v1/hosts/{host.pk}/")  # was a 500 (ProtectedError)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Still in use by virtual machines (web-1); delete or change those first.",
        "code": "in_use",
    }
    assert Host.objects.filter(pk=host.pk).exists()


def test_the_schema_declares_pagination_filters_and_the_409():
    admin = get_user_model().objects.create_user("boss", is_staff=True)
    client = APIClient()
    client.force_authenticate(admin)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    jobs = schema["paths"]["/api/v1/jobs/"]["get"]
    assert {"page", "page_size", "state", "kind", "target"} <= {p["name"] for p in jobs["parameters"]}
    assert jobs["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PaginatedJobList")
    assert {"400", "403", "404"} <= jobs["responses"].keys()
    action = schema["paths"]["/api/v1/vms/{id}/actions/{action_name}/"]["post"]
    assert {"202", "400", "403", "404", "409"} <= action["responses"].keys()
    assert "409" in schema["paths"]["/api/v1/vms/{id}/"]["delete"]["responses"]


def _listed_vm(owner, host, i: int) -> VirtualMachine:
    mac = f"52:54:00:00:01:{i:02x}"
    xml = (
        f"<domain type='kvm'><name>l{i}</name><devices>"
        f"<interface type='network'><mac address='{mac}'/><source network='default'/></interface>"
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
        "<source file='/var/lib/libvirt/images/tools.iso'/><target dev='sda' bus='sata'/><readonly/></disk>"
        "</devices></domain>"
    )
    vm = VirtualMachine.objects.create(name=f"l-{i:03d}", owner=owner, host=host, state=VMState.RUNNING, domain_xml=xml)
    sync_redis().set(addresses_key(vm.uuid), json.dumps({"by_mac": {mac: [f"192.168.122.{i + 10}"]}}), ex=60)
    return vm


def test_the_vm_list_reads_a_page_in_the_same_number_of_queries_and_redis_reads_for_3_or_30_vms(alice_api, monkeypatch):
    """Addresses (Redis), the ISO in each drive, host, template and owner are read once per page."""
    alice, client = alice_api
    host = Host.objects.create(name="h1", uri="test:///default")
    template = VMTemplate.objects.create(name="t", domain_xml="<domain type='kvm'><name>t</name></domain>")
    Image.objects.create(name="Tools", kind=ImageKind.ISO, format=ImageFormat.RAW, volume="tools.iso")
    redis = sync_redis()
    real = redis.execute_command
    commands = []

    def counted(*args, **kwargs):  # the real Redis answers; this only counts the round trips
        commands.append(args[0])
        return real(*args, **kwargs)

    def measure():
        commands.clear()
        monkeypatch.setattr(redis, "execute_command", counted)
        with CaptureQueriesContext(connection) as queries:
            page = client.get("/api/v1/vms/?page_size=100").json()
        monkeypatch.setattr(redis, "execute_command", real)
        return page, len(queries), len(commands)

    vms = [_listed_vm(alice, host, i) for i in range(3)]
    VirtualMachine.objects.filter(pk__in=[vm.pk for vm in vms]).update(template=template)
    measure()  # the first request of a test reads what later ones find cached (the session, the user)
    small, small_queries, small_reads = measure()
    try:
        vms += [_listed_vm(alice, host, i) for i in range(3, 30)]
        VirtualMachine.objects.filter(pk__in=[vm.pk for vm in vms]).update(template=template)
        big, big_queries, big_reads = measure()
    finally:
        redis.delete(*[addresses_key(vm.uuid) for vm in vms])

    assert len(small["results"]) == 3 and len(big["results"]) == 30
    assert (big_queries, big_reads) == (small_queries, small_reads), (small_queries, big_queries, commands)
    assert big_reads == 1
    by_name = {row["name"]: row for row in big["results"]}
    iso = Image.objects.get(volume="tools.iso")
    for i in (0, 29):
        row = by_name[f"l-{i:03d}"]
        assert row["addresses"] == {f"52:54:00:00:01:{i:02x}": [f"192.168.122.{i + 10}"]}
        assert row["cdrom"] == {"target": "sda", "image": iso.pk}
        assert (row["host"], row["template"], row["owner"]) == ("h1", "t", "alice")
