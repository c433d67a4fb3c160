"""SSH hosts trusted on first use, by a person, and pinned: against a real sshd on this machine.

libvirt's libssh transport checks the host key (and our key) before it needs a libvirtd, so a plain
sshd shows every refusal; the sshd's authorized_keys forces `/bin/false` as the remote command, which
is what a host without a running libvirtd looks like to libvirt.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from audit.models import AuditEntry
from tests.support.people import fake_host
from tests.support.sshd import keygen
from vms.hypervisor import ssh
from vms.hypervisor.errors import HostUnreachable, is_transient
from vms.models import Host, VirtualMachine
from vms.services import ssh_trust
from vms.services.hosts import add_host, check_host, delete_host

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_user("root-admin", "a@example.org", "pw-0123456789", is_staff=True)


@pytest.fixture
def api(admin):
    client = APIClient()
    client.force_authenticate(admin)
    return client


def _pending(sshd) -> Host:
    """An SSH host registered without answering: the key waits for a person."""
    return add_host("kvm-ssh", sshd.uri(), require_reachable=False)


def test_first_contact_shows_the_key_and_confirming_pins_it(sshd, identity, api):
    host = _pending(sshd)
    assert host.ssh_offered_fingerprint == sshd.fingerprint  # read at registration, not trusted
    assert ssh.pinned_key(identity, "127.0.0.1", sshd.port) is None

    result = check_host(host)
    assert not result.reachable and result.offered_fingerprint == sshd.fingerprint
    assert "is not confirmed yet" in result.error and sshd.fingerprint in result.error
    assert api.get(f"/api/v1/hosts/{host.pk}/").json()["ssh_offered_host_key_fingerprint"] == sshd.fingerprint

    answer = api.post(f"/api/v1/hosts/{host.pk}/trust-host-key/", {"fingerprint": sshd.fingerprint}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["ssh_host_key_fingerprint"] == sshd.fingerprint
    assert answer.json()["ssh_offered_host_key_fingerprint"] == ""
    pinned = ssh.pinned_key(identity, "127.0.0.1", sshd.port)
    assert pinned is not None and pinned.fingerprint == sshd.fingerprint
    assert f"[127.0.0.1]:{sshd.port} ssh-ed25519 " in identity.known_hosts.read_text()
    entry = AuditEntry.objects.get(action="host.trust_key")
    assert entry.details["fingerprint"] == sshd.fingerprint and entry.actor_name == "root-admin"

    # Trusted now: libvirt gets past the host key and our key; no libvirtd answers behind this sshd.
    result = check_host(host)
    assert not result.reachable
    assert "accepts our SSH key but libvirt does not answer there" in result.error
    assert "Confirmed" not in result.error and host.last_error == result.error


def test_a_changed_host_key_is_refused_with_one_sentence_and_audited(sshd, identity):
    host = _pending(sshd)
    old = sshd.fingerprint
    ssh_trust.trust_host_key(host, old, None)

    sshd.restart(new_host_key=True)
    new = sshd.fingerprint
    assert new != old
    result = check_host(host)
    assert not result.reachable
    assert result.error == (
        f"The SSH host key of 127.0.0.1:{sshd.port} changed (was {old}, now {new}): if the host was "
        "reinstalled, confirm the new key on the host page; otherwise someone may be intercepting the connection."
    )
    assert result.offered_fingerprint == new
    entry = AuditEntry.objects.get(action="host.key_changed")
    assert entry.result == "refused" and entry.details == {"was": old, "now": new}
    check_host(host)  # the same new key seen again is the same event: one entry
    assert AuditEntry.objects.filter(action="host.key_changed").count() == 1
    # The pin is untouched: libvirt itself still refuses the new key.
    assert ssh.pinned_key(identity, "127.0.0.1", sshd.port).fingerprint == old

    ssh_trust.trust_host_key(host, new, None)  # the admin checked: the host was reinstalled
    assert ssh.pinned_key(identity, "127.0.0.1", sshd.port).fingerprint == new
    assert "libvirt does not answer there" in check_host(host).error


def test_libvirt_itself_refuses_a_changed_key_with_the_sentence(sshd, identity):
    """Jobs connect without scanning first: libvirt's own refusal becomes the same kind of sentence."""
    host = _pending(sshd)
    ssh_trust.trust_host_key(host, sshd.fingerprint, None)
    sshd.restart(new_host_key=True)
    from vms.hypervisor.connection import open_connection

    with pytest.raises(HostUnreachable) as info:
        open_connection(host.uri)
    assert info.value.ssh_failure == ssh.HOST_KEY_CHANGED and not is_transient(info.value)
    assert ssh_trust.explain(info.value, host.uri).startswith(f"The SSH host key of 127.0.0.1:{sshd.port} changed")


def test_an_unknown_key_is_refused_by_libvirt_too(sshd, identity):
    from vms.hypervisor.connection import open_connection

    with pytest.raises(HostUnreachable) as info:
        open_connection(sshd.uri())
    assert info.value.ssh_failure == ssh.UNKNOWN_HOST_KEY
    assert "is not confirmed yet" in ssh_trust.explain(info.value, sshd.uri())


def test_a_wrong_fingerprint_is_refused_and_nothing_is_pinned(sshd, identity, api):
    host = _pending(sshd)
    answer = api.post(f"/api/v1/hosts/{host.pk}/trust-host-key/", {"fingerprint": "SHA256:" + "A" * 43}, format="json")
    assert answer.status_code == 400
    assert "now offers another SSH host key" in answer.json()["fingerprint"][0]
    assert sshd.fingerprint in answer.json()["fingerprint"][0]
    host.refresh_from_db()
    assert host.ssh_host_key_fingerprint == "" and ssh.pinned_key(identity, "127.0.0.1", sshd.port) is None
    assert not AuditEntry.objects.filter(action="host.trust_key").exists()
    assert api.post(f"/api/v1/hosts/{host.pk}/trust-host-key/", {}, format="json").status_code == 400


def test_trusting_a_host_that_is_not_ssh_is_refused(api):
    host = fake_host()
    answer = api.post(f"/api/v1/hosts/{host.pk}/trust-host-key/", {"fingerprint": "SHA256:x"}, format="json")
    assert answer.status_code == 400 and "not reached over SSH" in answer.json()["fingerprint"][0]


def test_our_key_refused_names_the_line_to_add(sshd, identity, tmp_path):
    stranger = keygen(tmp_path / "stranger")
    sshd.set_authorized_key((tmp_path / "stranger.pub").read_text())
    assert stranger.exists()
    host = _pending(sshd)
    ssh_trust.trust_host_key(host, sshd.fingerprint, None)
    result = check_host(host)
    assert not result.reachable
    assert result.error == (
        f"127.0.0.1:{sshd.port} refused this server's SSH key: add this line to ~root/.ssh/authorized_keys on "
        f"the host: {identity.public_key()}"
    )


def test_an_unreachable_host_says_so_within_seconds(identity):
    from tests.support.sshd import free_port

    port = free_port()  # nothing listens there
    host = add_host("gone", f"qemu+ssh://root@127.0.0.1:{port}/system", require_reachable=False)
    started = time.monotonic()
    result = check_host(host)
    assert time.monotonic() - started < 8
    assert result.error == (
        f"127.0.0.1:{port} does not answer over SSH on port {port}: check that the host is up, that sshd runs "
        "there and that this server may reach that port."
    )
    with pytest.raises(ValidationError) as info:
        add_host("gone-2", f"qemu+ssh://root@127.0.0.1:{port}/session")
    assert "does not answer over SSH" in info.value.message_dict["uri"][0]


def test_adding_a_reachable_ssh_host_needs_the_fingerprint_the_admin_saw(sshd, identity, api):
    answer = api.post("/api/v1/hosts/", {"name": "kvm-ssh", "uri": sshd.uri()}, format="json")
    assert answer.status_code == 400
    assert sshd.fingerprint in answer.json()["ssh_host_key_fingerprint"][0]
    answer = api.post(
        "/api/v1/hosts/",
        {"name": "kvm-ssh", "uri": sshd.uri(), "ssh_host_key_fingerprint": "SHA256:" + "B" * 43},
        format="json",
    )
    assert answer.status_code == 400 and "now offers another" in answer.json()["ssh_host_key_fingerprint"][0]
    # The right fingerprint gets past the key; this sshd has no libvirtd behind it: refused, nothing saved.
    answer = api.post(
        "/api/v1/hosts/",
        {"name": "kvm-ssh", "uri": sshd.uri(), "ssh_host_key_fingerprint": sshd.fingerprint},
        format="json",
    )
    assert answer.status_code == 400 and "libvirt does not answer there" in answer.json()["uri"][0]
    assert not Host.objects.exists() and ssh.pinned_key(identity, "127.0.0.1", sshd.port) is None


def test_a_key_the_deployment_pinned_itself_is_adopted(sshd, identity):
    ssh.pin(identity, ssh.scan_host_key("127.0.0.1", sshd.port))  # as the sandbox fleet does
    host = _pending(sshd)
    result = check_host(host)
    assert "libvirt does not answer there" in result.error
    host.refresh_from_db()
    assert host.ssh_host_key_fingerprint == sshd.fingerprint


def test_removing_a_host_forgets_its_key(sshd, identity):
    host = _pending(sshd)
    ssh_trust.trust_host_key(host, sshd.fingerprint, None)
    delete_host(host, None)
    assert ssh.pinned_key(identity, "127.0.0.1", sshd.port) is None


def test_removing_a_host_with_vms_is_refused(admin, api):
    host = fake_host()
    VirtualMachine.objects.create(name="web-1", host=host)
    assert api.delete(f"/api/v1/hosts/{host.pk}/").status_code == 409
    assert Host.objects.filter(pk=host.pk).exists()


def test_the_public_key_endpoint(identity, api):
    answer = api.get("/api/v1/hosts/ssh-public-key/")
    assert answer.status_code == 200
    assert answer.json() == {"public_key": identity.public_key(), "authorized_keys_line": identity.public_key()}
    assert identity.public_key().startswith("ssh-ed25519 ")


def test_only_admins_use_the_ssh_endpoints(sshd, identity):
    host = _pending(sshd)
    someone = get_user_model().objects.create_user("someone", "s@example.org", "pw-0123456789")
    client = APIClient()
    client.force_authenticate(someone)
    assert client.get("/api/v1/hosts/ssh-public-key/").status_code == 403
    answer = client.post(f"/api/v1/hosts/{host.pk}/trust-host-key/", {"fingerprint": sshd.fingerprint})
    assert answer.status_code == 403
    assert client.get(f"/api/v1/hosts/{host.pk}/").status_code == 403
    host.refresh_from_db()
    assert host.ssh_host_key_fingerprint == "" and ssh.pinned_key(identity, "127.0.0.1", sshd.port) is None


@pytest.mark.parametrize(
    "message,kind",
    [
        ("authentication failed: All provided authentication methods with credentials were rejected by the server",
         ssh.AUTH_REFUSED),
        ("SSH host key for 'kvm-01' (SHA256:x) was not accepted", ssh.UNKNOWN_HOST_KEY),
        ("authentication failed: !!! SSH HOST KEY VERIFICATION FAILED !!!: Identity of host 'kvm-01:22' differs",
         ssh.HOST_KEY_CHANGED),
        ("unable to connect to server at 'kvm-01:22': No route to host", ssh.UNREACHABLE),
        ("libssh transport error: Remote command terminated with non-zero code: 1", ssh.NO_LIBVIRTD),
        ("Cannot recv data: No ED25519 host key is known for [h]:22 and you have requested strict checking.\r\n"
         "Host key verification failed.: Connection reset by peer", ssh.UNKNOWN_HOST_KEY),
        ("Cannot recv data: @@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
         "Host key verification failed.", ssh.HOST_KEY_CHANGED),
        ("Domain not found", None),
    ],
)  # fmt: skip
def test_libvirt_messages_measured_elsewhere_are_told_apart(message, kind):
    """Messages libvirt 9.0 gives with other options (an auth callback, password methods allowed) and
    through the ssh program (the `ssh` transport, StrictHostKeyChecking=yes, BatchMode=yes)."""
    assert ssh.failure_kind(message) == kind
