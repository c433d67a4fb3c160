"""Issue 13, item 5: "The graphics relay connects wherever the domain XML says."

The relay used to take the display's listen address from the live XML and connect to it from the web
server, even to 127.0.0.1 for a remote host (the web server's own loopback: another VM's display, or
Redis). Now it connects only to an address of the VM's host (the URI's host; loopback only for local
URIs), every VM gets its own random display password when its XML is built, and the relay answers the
display's challenge itself: the browser never receives the password.
"""

from __future__ import annotations

import json
import string
import time
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from sandbox import bootstrap
from vms.choices import BootMode, DiskSource, VMState
from vms.domainxml.vm import VMSpec, build_vm_domain, new_display_password, without_display_passwords
from vms.hypervisor.graphics import DisplayRefused, first_graphics, listen_address_for, relay_address
from vms.models import VirtualMachine, VMTemplate
from vms.services import console_tokens

from .conftest import graphics_domain_xml, live_display
from .test_vnc_socket import _open, _user, _vm, rfb_handshake_as_novnc

REMOTE = "qemu+tcp://kvm1.example/system"
SANDBOX_LIKE = "qemu+tcp://10.213.0.11/system"
SSH_HOST = "qemu+ssh://root@10.213.0.12/system"


class FakeDNS:
    """Resolves kvm1.example to 10.0.0.5 (and an IPv6 address) and records every name it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if host == "kvm1.example":
            return ["2001:db8::5", "10.0.0.5"]
        raise OSError(f"no such host {host}")


# --- the address rule (pure: no host, no database) ------------------------------------------------
def test_address_rule_remote_host_itself_and_its_wildcards():
    dns = FakeDNS()
    assert relay_address("10.0.0.5", REMOTE, dns) == "10.0.0.5"
    assert relay_address("2001:db8::5", REMOTE, dns) == "2001:db8::5"
    assert relay_address("[2001:db8::5]", REMOTE, dns) == "2001:db8::5"
    assert relay_address("kvm1.example", REMOTE, dns) == "2001:db8::5"  # a listen equal to HOST: HOST
    assert relay_address("0.0.0.0", REMOTE, dns) == "10.0.0.5"  # noqa: S104 (IPv4 wildcard: HOST's IPv4)
    assert relay_address("::", REMOTE, dns) == "2001:db8::5"
    assert relay_address("", REMOTE, dns) == "2001:db8::5"  # no listen given: all addresses
    assert relay_address("10.213.0.11", SANDBOX_LIKE, dns) == "10.213.0.11"  # an IP host is not resolved
    assert relay_address("0.0.0.0", SANDBOX_LIKE, dns) == "10.213.0.11"  # noqa: S104
    assert relay_address(None, REMOTE, dns) is None  # a UNIX socket or listen type='none'
    assert set(dns.asked) == {"kvm1.example"}  # only the URI's host is ever resolved


@pytest.mark.parametrize(
    ("listen", "uri"),
    [
        ("127.0.0.1", REMOTE),  # the web server's own loopback, not kvm1's
        ("127.0.0.1", SANDBOX_LIKE),  # same machine, another loopback address than the host's
        ("::1", REMOTE),
        ("::ffff:127.0.0.1", REMOTE),
        ("localhost", REMOTE),
        ("10.0.0.6", REMOTE),  # another address
        ("10.213.0.12", SANDBOX_LIKE),  # another sandbox host's address
        ("redis.internal", REMOTE),  # a name other than HOST: refused, never resolved
    ],
)
def test_address_rule_refuses_loopback_and_other_addresses_of_a_remote_host(listen, uri):
    dns = FakeDNS()
    with pytest.raises(DisplayRefused) as refused:
        relay_address(listen, uri, dns)
    assert refused.value.reason == "not-host"
    assert refused.value.listen == listen
    assert refused.value.host in ("kvm1.example", "10.213.0.11")
    assert "redis.internal" not in dns.asked


def test_address_rule_local_uri_is_loopback_only():
    for uri in ("qemu:///system", "qemu+unix:///system"):
        assert relay_address("127.0.0.1", uri) == "127.0.0.1"
        assert relay_address("127.0.0.2", uri) == "127.0.0.2"
        assert relay_address("::1", uri) == "::1"
        assert relay_address("localhost", uri) == "127.0.0.1"
        assert relay_address("0.0.0.0", uri) == "127.0.0.1"  # noqa: S104
        assert relay_address("", uri) == "127.0.0.1"
        for elsewhere in ("10.0.0.5", "192.168.1.1", "example.org"):
            with pytest.raises(DisplayRefused) as refused:
                relay_address(elsewhere, uri)
            assert refused.value.reason == "not-loopback"


def test_address_rule_unresolvable_host():
    with pytest.raises(DisplayRefused) as refused:
        relay_address("0.0.0.0", "qemu+tcp://nowhere.example/system", FakeDNS())  # noqa: S104
    assert refused.value.reason == "unresolved"


def test_new_displays_listen_where_the_rule_allows():
    dns = FakeDNS()
    assert listen_address_for(SANDBOX_LIKE, dns) == "10.213.0.11"
    assert listen_address_for("qemu+tls://kvm1.example/system", dns) == "10.0.0.5"  # resolved, IPv4 first
    assert listen_address_for("qemu+ssh://root@kvm1.example/system", dns) == "127.0.0.1"  # through its sshd
    assert listen_address_for("qemu:///system", dns) == "127.0.0.1"
    for uri in (SANDBOX_LIKE, SSH_HOST, "qemu+tls://kvm1.example/system", "qemu:///system"):
        assert relay_address(listen_address_for(uri, dns), uri, dns)


def test_address_rule_for_ssh_hosts_is_evaluated_on_the_host():
    """Over SSH the relay asks the host's sshd to connect: loopback and wildcards mean the host's own
    loopback; the host's own address is allowed; any other machine is refused, as for TCP hosts."""
    dns = FakeDNS()
    assert relay_address("127.0.0.1", SSH_HOST, dns) == "127.0.0.1"
    assert relay_address("0.0.0.0", SSH_HOST, dns) == "127.0.0.1"  # noqa: S104
    assert relay_address("localhost", SSH_HOST, dns) == "127.0.0.1"
    assert relay_address("10.213.0.12", SSH_HOST, dns) == "10.213.0.12"
    for elsewhere in ("10.213.0.13", "192.0.2.2", "kvm1.example"):
        with pytest.raises(DisplayRefused) as refused:
            relay_address(elsewhere, SSH_HOST, dns)
        assert refused.value.reason == "not-host"


# --- per-VM random passwords (pure) ---------------------------------------------------------------
TEMPLATE_PASSWORD = "tmplpw-1"  # 8 characters: libvirt refuses longer VNC passwords


def template_xml(password: str | None = TEMPLATE_PASSWORD) -> str:
    return graphics_domain_xml("tpl", None, True, password=password, listen="0.0.0.0")  # noqa: S104


def test_each_vm_xml_gets_its_own_random_display_password():
    template = template_xml()
    spec = VMSpec("11111111-2222-3333-4444-555555555555", "a", 1, 64, None, "qcow2", "", display_listen="10.0.0.5")
    passwords = set()
    for _ in range(20):
        display = first_graphics(build_vm_domain(template, spec).to_xml())
        assert display.listen == "10.0.0.5"
        assert len(display.password) == 8 and set(display.password) <= set(string.ascii_letters + string.digits)
        passwords.add(display.password)
    assert len(passwords) == 20 and TEMPLATE_PASSWORD not in passwords
    assert first_graphics(template).password == TEMPLATE_PASSWORD  # the template is not touched
    assert len(new_display_password("spice")) == 32
    spice = graphics_domain_xml("tpl", None, True, display="spice")
    assert len(first_graphics(build_vm_domain(spice, spec).to_xml()).password) == 32
    stored = without_display_passwords(build_vm_domain(template, spec).to_xml())
    assert first_graphics(stored).password is None and "passwd" not in stored


# --- the relay, against real sandbox displays ------------------------------------------------------
async def _refusal(communicator: WebsocketCommunicator) -> tuple[dict | None, int | None, bytes]:
    """The "closing" text frame, the close code, and any bytes that came before (there must be none)."""
    said, data = None, b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        message = await communicator.receive_output(timeout=deadline - time.monotonic())
        if message["type"] == "websocket.close":
            return said, message.get("code"), data
        if message.get("text"):
            said = json.loads(message["text"])
        elif message.get("bytes"):
            data += message["bytes"]
    return said, None, data


@pytest.mark.sandbox
@pytest.mark.django_db(transaction=True)
async def test_relay_refuses_a_display_that_claims_loopback_on_a_remote_host(loopback_domain):
    uri, vm_uuid = loopback_domain
    owner, _client, cookie = await sync_to_async(_user)("owner")
    vm = await sync_to_async(_vm)(uri, vm_uuid, owner)
    socket = await _open(vm_uuid, cookie, console_tokens.issue(owner.pk, vm_uuid))
    said, code, data = await _refusal(socket)
    expected = (
        f"The display of this VM listens on 127.0.0.1, which is not an address of host {vm.host.name} "
        f"({urlsplit(uri).hostname}); the console was not opened."
    )
    assert data == b""  # not one byte of whatever listens on the web server's loopback
    assert code == 4406
    assert said == {"type": "closing", "code": 4406, "reason": expected}


@pytest.fixture
def host_one(db, sandbox_fleet):
    hosts = bootstrap.register_sandbox_hosts(sandbox_fleet.hosts(3))
    bootstrap.check_all(hosts)
    host = hosts[0]
    host.refresh_from_db()
    assert host.online, host.last_error
    return host


@pytest.fixture
def no_celery(monkeypatch):
    """Jobs stay queued for the test to run in-process (jobs.execution.execute)."""
    import jobs.services

    monkeypatch.setattr(jobs.services, "dispatch", lambda job: None)


def _provision(owner, template, host, name: str) -> VirtualMachine:
    from jobs.choices import JobState
    from jobs.execution import execute
    from jobs.models import Job
    from vms.services.vms import VMOrder, create_vm

    vm, job = create_vm(owner, VMOrder.with_defaults(template, name, host=host))
    execute(job.pk)
    job = Job.objects.get(pk=job.pk)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    return VirtualMachine.objects.select_related("host").get(pk=vm.pk)


async def _through_the_relay(vm: VirtualMachine, owner, cookie: bytes) -> bytes:
    socket = await _open(str(vm.uuid), cookie, console_tokens.issue(owner.pk, vm.uuid))
    received, _server_init = await rfb_handshake_as_novnc(socket)
    await socket.disconnect()
    return received


@pytest.mark.sandbox
@pytest.mark.django_db(transaction=True)
def test_two_vms_from_one_template_get_different_passwords_and_the_relay_answers_them(host_one, no_celery):
    from vms.runners.vm import remove_from_host

    owner, _client, cookie = _user("maker")
    template = VMTemplate.objects.create(
        name="with-vnc",
        domain_xml=template_xml(TEMPLATE_PASSWORD),  # a template's password and wildcard listen: replaced
        boot_mode=BootMode.KERNEL,
        default_vcpus=1,
        max_vcpus=1,
        default_memory_mib=128,
        max_memory_mib=128,
        default_disk_gib=1,
        max_disk_gib=1,
        disk_source=DiskSource.NONE,
    )
    made: list[VirtualMachine] = []
    try:
        for name in ("pw-one", "pw-two"):
            made.append(_provision(owner, template, host_one, name))
        displays = [live_display(vm.host.uri, str(vm.uuid)) for vm in made]
        passwords = [d.get("passwd") for d in displays]
        assert all(passwords) and passwords[0] != passwords[1]
        assert TEMPLATE_PASSWORD not in passwords and all(len(p) == 8 for p in passwords)
        # Each display listens on its host's own loopback (an SSH host): the relay reaches it through sshd.
        assert {d.get("listen") for d in displays} == {"127.0.0.1"}
        template.refresh_from_db()
        assert first_graphics(template.domain_xml).password == TEMPLATE_PASSWORD  # nothing stored on the template
        for vm, password in zip(made, passwords, strict=True):
            assert vm.state == VMState.RUNNING
            assert password not in vm.domain_xml and "passwd" not in vm.domain_xml  # nor in the database
            # The relay authenticates with this VM's own password; the browser never sees it.
            assert password.encode() not in async_to_sync(_through_the_relay)(vm, owner, cookie)
    finally:
        for vm in made:
            remove_from_host(vm)
