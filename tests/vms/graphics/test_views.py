"""The ticket endpoint, the .vv file and the console page, against a real sandbox display."""

from __future__ import annotations

import configparser

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from vms.choices import VMState
from vms.models import Host, VirtualMachine
from vms.services import console_tokens

from .conftest import SPICE_PASSWORD, VNC_PASSWORD, live_vnc_port

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]


def _setup(uri: str, vm_uuid: str, enforce_csrf: bool = False):
    owner = get_user_model().objects.create_user("owner", password="pw-123456789")
    host = Host.objects.create(name="sandbox-x", uri=uri)
    vm = VirtualMachine.objects.create(uuid=vm_uuid, name="my screen", owner=owner, host=host, state=VMState.RUNNING)
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(owner)
    return owner, vm, client


def test_token_view_needs_post_csrf_and_login(vnc_domain):
    uri, vm_uuid = vnc_domain
    owner, vm, client = _setup(uri, vm_uuid, enforce_csrf=True)
    url = f"/vms/{vm.uuid}/console-token/"
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    page = client.get(f"/vms/{vm.uuid}/graphics/")
    assert page.status_code == 200
    assert b"vendor/novnc/core/rfb.js" in page.content and b"js/graphics_console.js" in page.content
    response = client.post(url, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert response.status_code == 200
    data = response.json()
    assert data["path"] == f"/ws/vms/{vm.uuid}/vnc/"
    assert console_tokens.is_valid(data["token"], owner.pk, vm.uuid)
    assert not console_tokens.is_valid(data["token"], owner.pk + 1, vm.uuid)
    assert "password" not in data
    # Asking for the password (as the page once did) gets a ticket and nothing else.
    with_password = client.post(url, {"password": "1"}, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert with_password.status_code == 200 and "password" not in with_password.json()
    assert VNC_PASSWORD not in with_password.content.decode() and VNC_PASSWORD not in page.content.decode()
    anonymous = Client()
    assert anonymous.post(url).status_code == 401


def test_token_refused_to_other_users(vnc_domain):
    uri, vm_uuid = vnc_domain
    _owner, vm, _client = _setup(uri, vm_uuid)
    other = Client()
    other.force_login(get_user_model().objects.create_user("other", password="pw-123456789"))
    assert other.post(f"/vms/{vm.uuid}/console-token/").status_code == 404
    assert other.get(f"/vms/{vm.uuid}/console.vv").status_code == 404
    assert other.get(f"/vms/{vm.uuid}/graphics/").status_code == 404


def test_vv_file_names_the_live_vnc_port(vnc_domain):
    uri, vm_uuid = vnc_domain
    _owner, vm, client = _setup(uri, vm_uuid)
    response = client.get(f"/vms/{vm.uuid}/console.vv")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-virt-viewer"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"]
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(response.content.decode())
    section = parser["virt-viewer"]
    assert section["type"] == "vnc"
    # Where the display listens: the SSH host's own loopback, which a native client reaches through an
    # SSH tunnel to that host (the VM page's "How to connect" says how).
    assert section["host"] == "127.0.0.1"
    assert int(section["port"]) == live_vnc_port(uri, vm_uuid)
    first = 5900 + (settings.SANDBOX_FIRST_INDEX - 1) * 100  # host 1's range (sandbox/fleet.py)
    assert first <= int(section["port"]) <= first + 99
    # A native client must authenticate to the display itself: the file of an operator carries it.
    assert section["password"] == VNC_PASSWORD
    assert section["title"] == "my screen"
    assert section["delete-this-file"] == "1"


def test_vv_file_of_a_vm_without_graphics_is_404(plain_domain):
    uri, vm_uuid = plain_domain
    _owner, vm, client = _setup(uri, vm_uuid)
    assert client.get(f"/vms/{vm.uuid}/console.vv").status_code == 404


def test_spice_ticket_and_page(spice_domain):
    uri, vm_uuid = spice_domain
    owner, vm, client = _setup(uri, vm_uuid)
    url = f"/vms/{vm.uuid}/console-token/"
    response = client.post(url, {"display": "spice", "password": "1"})
    data = response.json()
    assert data["path"] == f"/ws/vms/{vm.uuid}/spice/"
    assert data["reuse_for"] == console_tokens.SPICE_REUSE_S
    assert "password" not in data and SPICE_PASSWORD not in response.content.decode()  # the relay has it
    assert console_tokens.is_valid(data["token"], owner.pk, vm.uuid, kind="spice")
    assert not console_tokens.is_valid(data["token"], owner.pk, vm.uuid)  # not a VNC ticket
    assert client.post(url, {"display": "rdp"}).status_code == 400

    # The page picks the viewer from the stored XML (no libvirt call), or from the route.
    page = client.get(f"/vms/{vm.uuid}/graphics/")
    assert b"vendor/novnc/core/rfb.js" in page.content  # nothing stored: VNC
    vm.domain_xml = "<domain><devices><graphics type='spice'/></devices></domain>"
    vm.save(update_fields=["domain_xml"])
    page = client.get(f"/vms/{vm.uuid}/graphics/")
    assert b"vendor/spice-html5/src/main.js" in page.content and b"js/graphics_spice.js" in page.content
    assert b"rfb.js" not in page.content
    assert b"vendor/novnc/core/rfb.js" in client.get(f"/vms/{vm.uuid}/graphics/vnc/").content
    vm.domain_xml = "<domain><devices"  # unreadable: VNC, no error
    vm.save(update_fields=["domain_xml"])
    assert client.get(f"/vms/{vm.uuid}/graphics/").status_code == 200
    assert b"spice-html5" in client.get(f"/vms/{vm.uuid}/graphics/spice/").content


def test_vv_file_with_the_password_only_for_users_who_may_operate(vnc_domain):
    from vms.models import VMShare

    uri, vm_uuid = vnc_domain
    _owner, vm, _client = _setup(uri, vm_uuid)
    viewer = get_user_model().objects.create_user("viewer", password="pw-123456789")
    VMShare.objects.create(vm=vm, user=viewer, level="view")
    client = Client()
    client.force_login(viewer)
    response = client.get(f"/vms/{vm.uuid}/console.vv")
    assert response.status_code == 403
    assert VNC_PASSWORD not in response.content.decode()
    page = client.get(f"/vms/{vm.uuid}/graphics/")
    assert page.status_code == 200 and VNC_PASSWORD not in page.content.decode()
    assert b"console.vv" not in page.content  # no link to a file they may not have
