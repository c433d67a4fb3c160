"""Host URIs cannot run programs or read files on the server; host limits hold on every door."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from vms.hypervisor.uris import BadURI, check_uri
from vms.models import Host

pytestmark = pytest.mark.django_db

HOSTILE = [
    ("qemu+ssh://kvm-01/system?command=/usr/bin/touch%20/tmp/pwned", "command"),
    ("qemu+ssh://kvm-01/system?socket=/var/run/redis.sock", "socket"),
    ("qemu+ssh://kvm-01/system?netcat=/bin/sh", "netcat"),
    ("qemu+tcp://kvm-01/system?name=qemu:///system", "name"),
    ("qemu+ssh://kvm-01/system?keyfile=/k&command=id", "command"),
]


@pytest.mark.parametrize("uri,parameter", HOSTILE)
def test_uri_parameters_that_act_on_this_machine_are_refused_by_name(uri, parameter):
    with pytest.raises(BadURI, match=f"'{parameter}' is not allowed"):
        check_uri(uri)


def test_the_parameters_a_deployment_needs_are_accepted():
    uri = "qemu+ssh://root@kvm-01/system?keyfile=/var/ssh/id&known_hosts=/var/ssh/kh&no_tty=1&sshauth=privkey"
    assert check_uri(uri) == uri
    assert check_uri("qemu+tls://kvm-01/system?pkipath=/etc/pki/x&no_verify=0")


def test_the_test_driver_is_refused_unless_allowed_and_never_reads_a_file():
    with pytest.raises(BadURI, match="LIBVIRT_ALLOW_TEST_DRIVER"):
        check_uri("test:///default")
    assert check_uri("test:///default", allow_test_driver=True) == "test:///default"
    with pytest.raises(BadURI, match="would read the file"):
        check_uri("test:///etc/shadow", allow_test_driver=True)


@pytest.fixture
def admin_api():
    admin = get_user_model().objects.create_superuser("uri-admin", "a@example.org", "pw-0123456789")
    client = APIClient()
    client.force_authenticate(admin)
    return client


def test_a_host_uri_that_runs_a_program_is_refused_by_the_api_and_nothing_is_stored(admin_api, tmp_path):
    marker = tmp_path / "ran"
    uri = f"qemu+ssh://kvm-01/system?command=/usr/bin/touch%20{marker}"
    answer = admin_api.post("/api/v1/hosts/", {"name": "evil", "uri": uri, "require_reachable": True}, format="json")
    assert answer.status_code == 400, answer.content
    assert "'command' is not allowed" in answer.json()["uri"][0]
    assert not Host.objects.exists()
    assert not marker.exists()


def test_the_test_driver_is_refused_where_the_deployment_does_not_allow_it(admin_api, settings):
    settings.LIBVIRT_ALLOW_TEST_DRIVER = False
    answer = admin_api.post(
        "/api/v1/hosts/", {"name": "t", "uri": "test:///etc/passwd", "require_reachable": False}, format="json"
    )
    assert answer.status_code == 400, answer.content
    assert not Host.objects.exists()


@pytest.mark.parametrize("value", [0, 65, 100000, -1])
def test_max_concurrent_jobs_is_range_checked_on_update_as_on_create(admin_api, value):
    host = Host.objects.create(name="h", uri="test:///default", max_concurrent_jobs=4)
    answer = admin_api.patch(f"/api/v1/hosts/{host.pk}/", {"max_concurrent_jobs": value}, format="json")
    assert answer.status_code == 400, answer.content
    host.refresh_from_db()
    assert host.max_concurrent_jobs == 4
