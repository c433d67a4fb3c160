"""The hosts page for admins: list, add (check first, then save), edit, enable/disable, remove, and SSH
host keys confirmed on the host's page. libvirt's test driver stands for a host where the SSH part
does not matter; SSH hosts are a real sshd (tests/support/sshd.py) with no libvirtd behind it.

Not here: an SSH host checked all the way to a libvirtd. Relaying the sshd's forced command to a
sandbox libvirtd (socat or nc) froze libvirt's libssh transport on getCapabilities, intermittently
(libvirt 9.0 waits in poll for data libssh already buffered)."""

from __future__ import annotations

import re

import pytest

from audit.models import AuditEntry
from tests.support.people import client_for, fake_host, make_user
from vms.hypervisor import ssh
from vms.models import Host, VirtualMachine

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db):
    return make_user("boss", is_staff=True, is_superuser=True)


@pytest.fixture
def client(admin):
    return client_for(admin)


def _add_form(**extra) -> dict:
    return {"name": "kvm-01", "uri": "test:///default", "emulation": "auto", "max_concurrent_jobs": 4, **extra}


def test_non_admins_get_403_on_every_hosts_page(db):
    host = fake_host()
    someone = client_for(make_user("someone"))
    for url in ("/manage/hosts/", "/manage/hosts/new/", f"/manage/hosts/{host.pk}/"):
        assert someone.get(url).status_code == 403, url
    for action in ("check", "trust-host-key", "enable", "delete"):
        assert someone.post(f"/manage/hosts/{host.pk}/{action}/").status_code == 403, action
    assert someone.post(f"/manage/hosts/{host.pk}/", {"name": "x"}).status_code == 403
    assert Host.objects.get(pk=host.pk).name == host.name


def test_the_list_shows_each_host_with_its_vm_count(client, identity):
    online = fake_host("rack-01", "test:///one")
    offline = Host.objects.create(name="rack-02", uri="qemu+ssh://root@rack-02/system", enabled=False)
    VirtualMachine.objects.create(name="web-1", host=online)
    VirtualMachine.objects.create(name="web-2", host=online)
    page = client.get("/manage/hosts/").content.decode()
    assert 'id="host-list" data-live-region' in page and "js/host_list.js" in page
    row = re.search(rf"<tr><td><a href=\"/manage/hosts/{online.pk}/\">rack-01</a>.*?</tr>", page, re.S).group(0)
    assert "test:///one" in row and "online" in row and '<td data-value="2">2</td>' in row and "enabled" in row
    row = re.search(rf"<tr><td><a href=\"/manage/hosts/{offline.pk}/\">rack-02</a>.*?</tr>", page, re.S).group(0)
    assert "qemu+ssh://root@rack-02/system" in row and "offline" in row and "disabled" in row
    assert identity.public_key() in page  # the line for authorized_keys


def test_add_checks_first_and_saves_only_on_add(client):
    page = client.post("/manage/hosts/new/", _add_form(check="1")).content.decode()
    assert not Host.objects.exists()
    assert "What the host offers" in page and "libvirt " in page and "Storage pool" in page
    assert 'name="checked_uri" value="test:///default"' in page and 'name="add"' in page

    answer = client.post("/manage/hosts/new/", _add_form(add="1", checked_uri="test:///default"))
    host = Host.objects.get(name="kvm-01")
    assert answer.status_code == 302 and answer["Location"] == f"/manage/hosts/{host.pk}/"
    assert host.online and host.capabilities and AuditEntry.objects.filter(action="host.add").exists()


def test_add_with_a_uri_changed_since_its_check_checks_again(client):
    page = client.post("/manage/hosts/new/", _add_form(add="1", checked_uri="test:///other")).content.decode()
    assert not Host.objects.exists() and "What the host offers" in page


def test_bad_input_is_said_and_nothing_is_saved(client):
    answer = client.post("/manage/hosts/new/", _add_form(name="bad name!", uri="ftp://x/system", check="1"))
    page = answer.content.decode()
    assert "letters, numbers" in page and "not a supported libvirt URI scheme" in page
    assert 'class="error-summary"' in page and not Host.objects.exists()
    page = client.post("/manage/hosts/new/", _add_form(uri="qemu+tcp://127.0.0.1:1/system", check="1")).content
    assert b"Connection refused" in page and not Host.objects.exists()


def test_edit_enable_disable(client):
    host = fake_host("rack-01", "test:///default")
    answer = client.post(
        f"/manage/hosts/{host.pk}/",
        {"name": "rack-09", "uri": "test:///default", "emulation": "qemu", "max_concurrent_jobs": 8, "enabled": "on"},
    )
    assert answer.status_code == 302
    host.refresh_from_db()
    assert (host.name, host.emulation, host.max_concurrent_jobs) == ("rack-09", "qemu", 8)
    bad = client.post(f"/manage/hosts/{host.pk}/", {"name": "", "uri": "x", "emulation": "auto"})
    assert bad.status_code == 400 and b"error-summary" in bad.content
    assert Host.objects.get(pk=host.pk).name == "rack-09"

    assert client.post(f"/manage/hosts/{host.pk}/enable/", {"enabled": "0"}).status_code == 302
    assert not Host.objects.get(pk=host.pk).enabled
    page = client.get(f"/manage/hosts/{host.pk}/").content.decode()
    assert "disabled" in page and 'name="enabled" value="1"' in page
    client.post(f"/manage/hosts/{host.pk}/enable/", {"enabled": "1", "next": "list"})
    assert Host.objects.get(pk=host.pk).enabled
    assert client.get(f"/manage/hosts/{host.pk}/enable/").status_code == 405


def test_remove_is_refused_while_vms_refer_to_the_host(client):
    host = fake_host()
    VirtualMachine.objects.create(name="web-1", host=host)
    VirtualMachine.objects.create(name="web-2", host=host)
    answer = client.post(f"/manage/hosts/{host.pk}/delete/", follow=True)
    assert Host.objects.filter(pk=host.pk).exists()
    assert f"{host.name} still has 2 VMs" in answer.content.decode()
    VirtualMachine.objects.filter(host=host).delete()
    answer = client.post(f"/manage/hosts/{host.pk}/delete/")
    assert answer.status_code == 302 and answer["Location"] == "/manage/hosts/"
    assert not Host.objects.filter(pk=host.pk).exists()


def test_the_host_page_lists_its_vms_and_asks_before_removing(client):
    host = fake_host()
    vm = VirtualMachine.objects.create(name="web-1", host=host)
    page = client.get(f"/manage/hosts/{host.pk}/").content.decode()
    assert f"/vms/{vm.uuid}/" in page and "web-1" in page
    assert f'data-confirm-name="{host.name}"' in page


def test_ssh_host_key_confirmed_on_the_host_page(client, sshd, identity):
    host = Host.objects.create(name="kvm-ssh", uri=sshd.uri())
    page = client.get(f"/manage/hosts/{host.pk}/").content.decode()
    assert "No key confirmed yet" in page and identity.public_key() in page

    page = client.post(f"/manage/hosts/{host.pk}/check/").content.decode()
    assert "is not confirmed yet" in page and sshd.fingerprint in page
    assert f'name="fingerprint" value="{sshd.fingerprint}"' in page

    wrong = client.post(f"/manage/hosts/{host.pk}/trust-host-key/", {"fingerprint": "SHA256:nope"}, follow=True)
    assert "now offers another SSH host key" in wrong.content.decode()
    assert ssh.pinned_key(identity, "127.0.0.1", sshd.port) is None

    page = client.post(f"/manage/hosts/{host.pk}/trust-host-key/", {"fingerprint": sshd.fingerprint}).content
    page = page.decode()
    assert f"SSH host key {sshd.fingerprint} of kvm-ssh confirmed." in page
    assert "libvirt does not answer there" in page  # checked at once after confirming
    assert ssh.pinned_key(identity, "127.0.0.1", sshd.port).fingerprint == sshd.fingerprint
    assert Host.objects.get(pk=host.pk).ssh_host_key_fingerprint == sshd.fingerprint
