"""The VM page and the graphical console page, server-rendered (issue 19): what they offer depends on
what the VM has (a display, an address) and whether it still exists. Database rows only, no libvirt."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from tests.support.people import client_for, make_user
from vms.choices import VMState
from vms.models import VirtualMachine, VMShare

pytestmark = pytest.mark.django_db

VNC_XML = "<domain><devices><graphics type='vnc' autoport='yes'/></devices></domain>"
SPICE_XML = "<domain><devices><graphics type='spice' autoport='yes'/></devices></domain>"
PLAIN_XML = (
    "<domain><devices><serial type='pty'/>"
    "<interface type='network'><source network='default'/></interface></devices></domain>"
)
FIXED_IP_XML = (
    "<domain><devices><interface type='network'><source network='default'/>"
    "<ip address='192.0.2.7' prefix='24'/></interface></devices></domain>"
)


def make_vm(owner, host, name="web-1", state=VMState.RUNNING, xml="", **extra):
    return VirtualMachine.objects.create(
        name=name, owner=owner, host=host, state=state, domain_xml=xml, vcpus=1, memory_mib=2048, disk_gib=10, **extra
    )


def visible_text(html: str) -> str:
    """What a person reads: no scripts, no tags, no attribute values."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    html = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_vm_without_a_display_offers_no_graphical_console_and_says_why(alice, host):
    vm = make_vm(alice, host, xml=PLAIN_XML)
    client = client_for(alice)
    page = client.get(f"/vms/{vm.uuid}/").content.decode()
    assert f"/vms/{vm.uuid}/graphics/" not in page
    assert "this VM has no graphical display. Use the serial console." in page

    console = client.get(f"/vms/{vm.uuid}/graphics/").content.decode()
    assert "This VM has no graphical display" in console
    assert "not running" not in console  # it runs: it just has no screen
    for unusable in ("console.vv", "rfb.js", "spice-html5", "vnc-cad", "graphics_console.js", "vnc-config"):
        assert unusable not in console, unusable


@pytest.mark.parametrize(
    ("xml", "viewer", "other"), [(VNC_XML, "rfb.js", "/graphics/spice/"), (SPICE_XML, "spice-html5", "/graphics/vnc/")]
)
def test_a_vm_with_a_display_links_its_console_and_never_calls_a_running_vm_stopped(alice, host, xml, viewer, other):
    vm = make_vm(alice, host, xml=xml)
    client = client_for(alice)
    assert f'href="/vms/{vm.uuid}/graphics/"' in client.get(f"/vms/{vm.uuid}/").content.decode()
    response = client.get(f"/vms/{vm.uuid}/graphics/")
    console = response.content.decode()
    assert viewer in console and "console.vv" in console
    assert other not in console  # the XML declares one display: the other viewer cannot work
    config = response.context["config"]
    # 4404 from the relay: the page's sentence for a running VM never says it is not running.
    assert config["running"] and "not running" not in config["messages"]["noGraphics"]

    VirtualMachine.objects.filter(pk=vm.pk).update(state=VMState.STOPPED)
    stopped = client.get(f"/vms/{vm.uuid}/graphics/")
    assert "This VM is not running (Stopped)" in stopped.content.decode()
    assert not stopped.context["config"]["running"]
    assert "not running" in stopped.context["config"]["messages"]["notRunning"]


def test_a_discovered_vm_keeps_its_console_link(alice, host):
    """Nothing stored tells whether it has a display: the page is offered and the relay tells."""
    vm = make_vm(None, host, xml="", managed=False)
    admin = make_user("ops", is_staff=True, is_superuser=True)
    assert f'href="/vms/{vm.uuid}/graphics/"' in client_for(admin).get(f"/vms/{vm.uuid}/").content.decode()


def test_delete_asks_for_the_name_and_unsharing_asks_first(alice, bob, host):
    vm = make_vm(alice, host, name="db-primary", xml=PLAIN_XML)
    VMShare.objects.create(vm=vm, user=bob, level="view")
    page = client_for(alice).get(f"/vms/{vm.uuid}/").content.decode()
    delete_form = re.search(r'<form[^>]*data-action="delete"[^>]*>', page).group(0)
    assert 'data-confirm-name="db-primary"' in delete_form and "data-confirm=" in delete_form
    unshare_form = re.search(r'<form[^>]*action="/vms/[^"]*/share/\d+/delete/"[^>]*>', page).group(0)
    assert "data-confirm=" in unshare_form and "bob" in unshare_form


def test_a_deleted_vm_offers_nothing_and_says_when(alice, host):
    vm = make_vm(alice, host, name="old-box", xml=VNC_XML, state=VMState.DELETED)
    VirtualMachine.objects.filter(pk=vm.pk).update(state_changed_at=timezone.now() - timezone.timedelta(hours=3))
    page = client_for(alice).get(f"/vms/{vm.uuid}/").content.decode()
    text = visible_text(page)
    assert "This VM was deleted 3 hours ago" in text
    assert "/audit/?object_type=vm&amp;q=old-box" in page
    for gone in (
        f"/vms/{vm.uuid}/action/",
        f"/vms/{vm.uuid}/share/",
        f"/vms/{vm.uuid}/graphics/",
        'id="console"',
        'id="spark-cpu"',
        "How to connect",
        "xterm.js",
    ):
        assert gone not in page, gone
    assert client_for(alice).get(f"/vms/{vm.uuid}/graphics/").status_code == 404
    assert client_for(make_user("mallory")).get(f"/vms/{vm.uuid}/").status_code == 404  # its record is not for all


def test_how_to_connect_with_and_without_a_known_address(alice, host):
    client = client_for(alice)
    known = make_vm(alice, host, name="fixed", xml=FIXED_IP_XML)
    page = client.get(f"/vms/{known.uuid}/").content.decode()
    assert '<code id="ssh-command">ssh USER@192.0.2.7</code>' in page
    assert f'href="/vms/{known.uuid}/console/"' in page  # the Console tab

    unknown = make_vm(alice, host, name="dhcp", xml=PLAIN_XML)
    page = client.get(f"/vms/{unknown.uuid}/").content.decode()
    assert "ssh-command" not in page
    assert "<code>ip addr</code>" in page and "serial console" in page
    assert "libvirt network default" in page


BRIDGE_XML = (
    "<domain><devices><interface type='bridge'><mac address='52:54:00:aa:bb:cc'/><source bridge='br0'/>"
    "<model type='virtio'/></interface></devices></domain>"
)


def test_the_address_its_host_saw_is_shown_while_the_vm_runs(alice, host):
    """What the watcher read on the host (vms.watcher.observed.record_addresses) reaches the page through
    Redis; a stopped VM's is not offered (its address may go to another guest)."""
    from live.redis import sync_redis
    from vms.hypervisor.addresses import GuestAddresses
    from vms.watcher.observed import record_addresses
    from vms.watcher.store import addresses_key

    client = client_for(alice)
    vm = make_vm(alice, host, name="lab", xml=BRIDGE_XML)
    guest = GuestAddresses(str(vm.uuid), ["52:54:00:aa:bb:cc"])
    guest.add("52:54:00:aa:bb:cc", "192.168.213.150", "neighbours")
    stranger = GuestAddresses("00000000-0000-4000-8000-000000000000", ["52:54:00:00:00:01"])
    stranger.add("52:54:00:00:00:01", "192.168.213.151", "arp")
    try:
        record_addresses(host.id, [guest, stranger])
        assert sync_redis().get(addresses_key(stranger.uuid)) is None  # not a VM the dashboard knows
        page = client.get(f"/vms/{vm.uuid}/").content.decode()
        assert '<code id="ssh-command">ssh USER@192.168.213.150</code>' in page
        assert "from its host&#x27;s ARP table" in page and "bridge br0" in page

        VirtualMachine.objects.filter(pk=vm.pk).update(state=VMState.STOPPED)
        page = client.get(f"/vms/{vm.uuid}/").content.decode()
        assert "192.168.213.150" not in page and "<code>ip addr</code>" in page
    finally:
        sync_redis().delete(addresses_key(vm.uuid))


def test_no_internal_strings_on_the_vm_pages(alice, host):
    vm = make_vm(alice, host, xml=VNC_XML)
    client = client_for(alice)
    for url in (f"/vms/{vm.uuid}/", "/vms/"):
        text = visible_text(client.get(url).content.decode())
        assert "1 vCPUs" not in text and "1 vCPU" in text, url
        assert "2 GiB" in text and "2048" not in text, url
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text), url  # no raw ISO timestamps
        assert "vms.virtualmachine:" not in text, url
