"""Registering and checking hosts: real sandbox hosts, real refusals."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from vms.models import Host
from vms.services.hosts import add_host, check_host

pytestmark = pytest.mark.django_db


@pytest.mark.sandbox
def test_three_sandbox_hosts_added_by_uri_and_checked(sandbox_uris):
    for i, uri in enumerate(sandbox_uris, start=1):
        host = add_host(f"kvm-{i}", uri)
        assert host.online and host.capabilities["hypervisor"] == "QEMU"
        result = check_host(host)
        assert result.reachable, result.error
        text = "\n".join(result.lines)
        assert "libvirt 9." in text and "Storage pool default" in text
        assert host.capabilities["pools"][0]["name"] == "default"
        assert "/usr/bin/qemu-system-x86_64" in host.capabilities["emulators"]
        assert "pc" in host.capabilities["machines"]
    assert Host.objects.count() == 3


@pytest.mark.parametrize(
    "name,uri,field,words",
    [
        ("ok", "ftp://example/system", "uri", "not a supported libvirt URI scheme"),
        ("ok", "qemu+ssh:///system", "uri", "needs a host name"),
        ("ok", "qemu+tcp://h/other", "uri", "must end in /system or /session"),
        ("ok", "qemu:///system\n<x>", "uri", "control characters"),
        ("bad name!", "qemu+tcp://h/system", "name", "letters, numbers"),
    ],
)
def test_bad_input_gives_a_reason_and_creates_nothing(name, uri, field, words):
    with pytest.raises(ValidationError) as info:
        add_host(name, uri)
    assert words in " ".join(info.value.message_dict[field])
    assert not Host.objects.exists()


def test_unreachable_host_is_refused_with_the_hosts_message():
    with pytest.raises(ValidationError) as info:
        add_host("nowhere", "qemu+tcp://127.0.0.1:1/system")
    message = " ".join(info.value.message_dict["uri"])
    assert "Could not connect to qemu+tcp://127.0.0.1:1/system" in message
    assert "Connection refused" in message
    assert not Host.objects.exists()


def test_offline_registration_and_check_records_the_error():
    host = add_host("later", "qemu+tcp://127.0.0.1:1/system", require_reachable=False)
    assert not host.online
    result = check_host(host)
    assert not result.reachable and "Connection refused" in result.error
    host.refresh_from_db()
    assert host.last_error == result.error and host.last_checked is not None


def test_credentials_never_shown():
    host = add_host("secret", "qemu+ssh://root:hunter2@kvm-9/system?keyfile=/root/.ssh/id", require_reachable=False)
    assert host.display_uri == "qemu+ssh://root@kvm-9/system"


def test_hosts_command_reports_in_one_line(capsys):
    with pytest.raises(CommandError, match="Host not added: uri: 'ftp' is not a supported"):
        call_command("hosts", "add", "x", "ftp://x/system")
    call_command("hosts", "add", "t", "test:///default")
    call_command("hosts", "list")
    assert "t\ttest:///default\tonline" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No host named 'zzz'"):
        call_command("hosts", "check", "zzz")
