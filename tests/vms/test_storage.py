"""The Storage page and the pools API (issue 14): real sandbox libvirtd, real pools and volumes."""

from __future__ import annotations

import uuid

import libvirt
import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from audit.models import AuditEntry
from tests.support.people import client_for, make_user
from vms.choices import ImageFormat, ImageKind, VMState, VolumeOwner
from vms.hypervisor.connection import open_connection
from vms.hypervisor.storage import volume_xml
from vms.models import Image, ImageCopy, VirtualMachine
from vms.services import storage

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]

MIB = 2**20


def pool_names(uri: str) -> set[str]:
    conn = open_connection(uri)
    try:
        return {p.name() for p in conn.listAllStoragePools(0)}
    finally:
        conn.close()


def volume_names(uri: str, pool: str) -> set[str]:
    conn = open_connection(uri)
    try:
        p = conn.storagePoolLookupByName(pool)
        p.refresh(0)
        return {v.name() for v in p.listAllVolumes(0)}
    finally:
        conn.close()


def remove_pool(uri: str, name: str) -> None:
    """Whatever a test made goes: the pool's volumes, its directory, its definition."""
    conn = open_connection(uri)
    try:
        try:
            pool = conn.storagePoolLookupByName(name)
        except libvirt.libvirtError:
            return
        if pool.isActive():
            pool.refresh(0)
            for vol in pool.listAllVolumes(0):
                vol.delete(0)
            pool.destroy()
        try:
            pool.delete(0)
        except libvirt.libvirtError:
            pass
        pool.undefine()
    finally:
        conn.close()


@pytest.fixture
def host(fleet_hosts):
    return fleet_hosts[0]


@pytest.fixture
def pool(host, admin_user):
    """A fresh dir pool on the first sandbox host, defined through the service."""
    name = f"t{uuid.uuid4().hex[:8]}"
    storage.define_pool(host, name, f"/var/lib/libvirt/test-pools/{name}", admin_user)
    yield name
    remove_pool(host.uri, name)


@pytest.fixture
def default_volumes(host):
    """Volumes made in the default pool by a test; removed afterwards."""
    made: list[str] = []
    yield made
    conn = open_connection(host.uri)
    try:
        p = conn.storagePoolLookupByName("default")
        for name in made:
            try:
                p.storageVolLookupByName(name).delete(0)
            except libvirt.libvirtError:
                pass
    finally:
        conn.close()


def make_volume(uri: str, pool: str, name: str) -> str:
    conn = open_connection(uri)
    try:
        return conn.storagePoolLookupByName(pool).createXML(volume_xml(name, MIB, "raw"), 0).path()
    finally:
        conn.close()


# --- pools ------------------------------------------------------------------------------------------


def test_define_pool_stores_it_in_the_hosts_facts_and_audits(host, admin_user, pool):
    assert pool in pool_names(host.uri)
    host.refresh_from_db()
    row = storage.stored_pool(host, pool)
    assert row is not None and row.active and row.capacity > 0
    assert row.path == f"/var/lib/libvirt/test-pools/{pool}"
    entry = AuditEntry.objects.get(action="pool.define")
    assert entry.details["pool"] == pool and entry.object_name == host.name


@pytest.mark.parametrize(
    "name,path,field,words",
    [
        ("bad name", "/srv/x", "name", "letters, digits"),
        ("-x", "/srv/x", "name", "starting with a letter"),
        ("a/b", "/srv/x", "name", "letters, digits"),
        ("ok", "relative/dir", "path", "absolute"),
        ("ok", "/srv/../etc", "path", "'..'"),
        ("ok", "/srv/x\nmore", "path", "control characters"),
    ],
)
def test_bad_pool_input_is_refused_and_nothing_is_defined(host, admin_user, name, path, field, words):
    before = pool_names(host.uri)
    with pytest.raises(ValidationError) as info:
        storage.define_pool(host, name, path, admin_user)
    assert words in " ".join(info.value.message_dict[field])
    assert pool_names(host.uri) == before
    assert not AuditEntry.objects.filter(action="pool.define").exists()


def test_a_pool_name_already_used_is_refused(host, admin_user, pool):
    with pytest.raises(ValidationError) as info:
        storage.define_pool(host, pool, "/var/lib/libvirt/test-pools/other", admin_user)
    assert "already has a storage pool" in " ".join(info.value.message_dict["name"])


def test_a_host_refusal_names_the_pool_and_the_host_and_leaves_nothing(host, admin_user):
    # The default pool's directory is taken: libvirt refuses a second pool on the same target.
    default_path = storage.stored_pool(host, "default").path
    name = f"t{uuid.uuid4().hex[:8]}"
    with pytest.raises(storage.StorageError) as info:
        storage.define_pool(host, name, default_path, admin_user)
    assert f"Could not define storage pool '{name}' at {default_path} on host {host.name}" in str(info.value)
    assert info.value.host_message
    assert name not in pool_names(host.uri)


def test_refresh_reads_the_pool_again(host, pool):
    host.refresh_from_db()
    before = storage.stored_pool(host, pool).allocation
    # A file written behind libvirt's back (through libvirt, so that the test needs no access to the
    # host's private directories) and the stored facts no longer match until a refresh.
    conn = open_connection(host.uri)
    try:
        p = conn.storagePoolLookupByName(pool)
        p.createXML(volume_xml("filled.raw", 64 * MIB, "raw", allocation_bytes=64 * MIB), 0)
    finally:
        conn.close()
    rows = storage.refresh_pools(host, pool)
    after = next(r for r in rows if r.name == pool).allocation
    assert after >= before + 60 * MIB
    host.refresh_from_db()
    assert storage.stored_pool(host, pool).allocation == after


# --- volumes and owners -----------------------------------------------------------------------------


def test_owners_of_volumes(host, pool, default_volumes):
    ours = VirtualMachine.objects.create(name="ours", host=host, state=VMState.STOPPED)
    ours_disk = f"{ours.uuid}-disk0.qcow2"
    make_volume(host.uri, pool, ours_disk)
    deleted = VirtualMachine.objects.create(name="gone", host=host, state=VMState.DELETED)
    leftover = f"{deleted.uuid}-disk0.qcow2"
    make_volume(host.uri, pool, leftover)
    discovered_path = make_volume(host.uri, pool, "found.raw")
    VirtualMachine.objects.create(
        name="found-vm",
        host=host,
        managed=False,
        state=VMState.RUNNING,
        domain_xml=(
            "<domain type='qemu'><name>found-vm</name><devices><disk type='file' device='disk'>"
            f"<source file='{discovered_path}'/><target dev='vda'/></disk></devices></domain>"
        ),
    )
    make_volume(host.uri, pool, "stray.raw")
    # An image copy lives in the default pool; a volume of the same name elsewhere is not one.
    copy_name = f"img-{uuid.uuid4().hex[:8]}.qcow2"
    image = Image.objects.create(name="base-img", kind=ImageKind.BASE, format=ImageFormat.QCOW2, volume=copy_name)
    ImageCopy.objects.create(image=image, host=host, volume=copy_name, state="ready")
    default_volumes.append(copy_name)
    make_volume(host.uri, "default", copy_name)
    make_volume(host.uri, pool, copy_name)

    owners = {v.name: (v.owner, v.owner_name) for v in storage.pool_volumes(host, pool)}
    assert owners == {
        ours_disk: (VolumeOwner.VM, "ours"),
        leftover: (VolumeOwner.NOBODY, ""),
        "found.raw": (VolumeOwner.DISCOVERED, "found-vm"),
        "stray.raw": (VolumeOwner.NOBODY, ""),
        copy_name: (VolumeOwner.NOBODY, ""),
    }
    in_default = {v.name: v.owner for v in storage.pool_volumes(host, "default")}
    assert in_default[copy_name] == VolumeOwner.IMAGE


def test_delete_a_volume_nobody_owns(host, pool, admin_user):
    make_volume(host.uri, pool, "stray.raw")
    storage.delete_volume(host, pool, "stray.raw", admin_user)
    assert "stray.raw" not in volume_names(host.uri, pool)
    entry = AuditEntry.objects.get(action="volume.delete")
    assert entry.details["volume"] == "stray.raw" and entry.details["pool"] == pool


def test_an_owned_volume_is_refused_and_kept(host, pool, admin_user):
    vm = VirtualMachine.objects.create(name="keeper", host=host, state=VMState.RUNNING)
    disk = f"{vm.uuid}-disk0.qcow2"
    make_volume(host.uri, pool, disk)
    with pytest.raises(storage.VolumeInUse) as info:
        storage.delete_volume(host, pool, disk, admin_user)
    assert "is a disk of the VM keeper" in str(info.value)
    assert disk in volume_names(host.uri, pool)
    assert not AuditEntry.objects.filter(action="volume.delete").exists()


# --- the pages --------------------------------------------------------------------------------------


def test_pages_show_pools_and_volumes_and_delete_asks_first(host, pool, admin_user):
    make_volume(host.uri, pool, "stray.raw")
    vm = VirtualMachine.objects.create(name="keeper", host=host, state=VMState.RUNNING)
    make_volume(host.uri, pool, f"{vm.uuid}-disk0.qcow2")
    client = client_for(admin_user)
    listing = client.get("/manage/storage/").content.decode()
    assert host.name in listing and pool in listing and "Reserved by our VMs" in listing
    page = client.get(f"/manage/storage/{host.pk}/", {"pool": pool}).content.decode()
    assert "stray.raw" in page and "keeper" in page
    # Only the unowned volume has a delete form, and it asks with the volume's name first.
    assert page.count('data-confirm-name="stray.raw"') == 1
    assert f'data-confirm-name="{vm.uuid}-disk0.qcow2"' not in page

    answer = client.post(f"/manage/storage/{host.pk}/volumes/delete/", {"pool": pool, "volume": "stray.raw"})
    assert answer.status_code == 302
    assert "stray.raw" not in volume_names(host.uri, pool)
    refused = client.post(
        f"/manage/storage/{host.pk}/volumes/delete/", {"pool": pool, "volume": f"{vm.uuid}-disk0.qcow2"}, follow=True
    )
    assert "is a disk of the VM keeper" in refused.content.decode()
    assert f"{vm.uuid}-disk0.qcow2" in volume_names(host.uri, pool)


def test_define_pool_page_shows_errors_on_the_fields(host, admin_user):
    client = client_for(admin_user)
    page = client.post(f"/manage/storage/{host.pk}/", {"name": "ok", "path": "/a/../b"}).content.decode()
    assert "error-summary" in page and "&#x27;..&#x27;" in page
    assert "ok" not in pool_names(host.uri)


def test_pages_and_api_are_for_admins_only(host, pool):
    user = make_user("plain")
    client = client_for(user)
    for url in ("/manage/storage/", f"/manage/storage/{host.pk}/"):
        assert client.get(url).status_code == 403
    assert client.post(f"/manage/storage/{host.pk}/refresh/").status_code == 403
    assert client.post(f"/manage/storage/{host.pk}/volumes/delete/", {"pool": pool, "volume": "x"}).status_code == 403
    api = APIClient()
    api.force_authenticate(user)
    assert api.get(f"/api/v1/hosts/{host.pk}/pools/").status_code == 403
    assert api.post(f"/api/v1/hosts/{host.pk}/pools/", {"name": "x", "path": "/srv/x"}).status_code == 403
    assert api.get(f"/api/v1/hosts/{host.pk}/pools/{pool}/volumes/").status_code == 403
    assert api.delete(f"/api/v1/hosts/{host.pk}/pools/{pool}/volumes/x/").status_code == 403


# --- the API ----------------------------------------------------------------------------------------


def test_api_pools_volumes_and_delete(host, admin_user):
    api = APIClient()
    api.force_authenticate(admin_user)
    name = f"t{uuid.uuid4().hex[:8]}"
    try:
        bad = api.post(f"/api/v1/hosts/{host.pk}/pools/", {"name": name, "path": "not/absolute"}, format="json")
        assert bad.status_code == 400 and "path" in bad.json()
        made = api.post(
            f"/api/v1/hosts/{host.pk}/pools/", {"name": name, "path": f"/var/lib/libvirt/test-pools/{name}"}
        )
        assert made.status_code == 201, made.json()
        assert made.json()["name"] == name and made.json()["active"]
        listed = api.get(f"/api/v1/hosts/{host.pk}/pools/").json()
        assert {p["name"] for p in listed} >= {"default", name}

        vm = VirtualMachine.objects.create(name="keeper", host=host, state=VMState.RUNNING)
        disk = f"{vm.uuid}-disk0.qcow2"
        make_volume(host.uri, name, disk)
        make_volume(host.uri, name, "stray.raw")
        volumes = {v["name"]: v for v in api.get(f"/api/v1/hosts/{host.pk}/pools/{name}/volumes/").json()}
        assert volumes[disk]["owner"] == {"kind": "vm", "name": "keeper", "vm": vm.pk}
        assert volumes["stray.raw"]["owner"] == {"kind": "none", "name": "", "vm": None}

        refused = api.delete(f"/api/v1/hosts/{host.pk}/pools/{name}/volumes/{disk}/")
        assert refused.status_code == 409 and refused.json()["code"] == "in_use"
        assert disk in volume_names(host.uri, name)
        assert api.delete(f"/api/v1/hosts/{host.pk}/pools/{name}/volumes/stray.raw/").status_code == 204
        assert "stray.raw" not in volume_names(host.uri, name)
        assert api.delete(f"/api/v1/hosts/{host.pk}/pools/{name}/volumes/stray.raw/").status_code == 404
        assert api.get(f"/api/v1/hosts/{host.pk}/pools/no-such-pool/volumes/").status_code == 404
    finally:
        remove_pool(host.uri, name)


def test_an_unreachable_host_is_a_sentence_with_the_hosts_message(admin_user):
    from vms.services.hosts import add_host

    host = add_host("nowhere", "qemu+tcp://127.0.0.1:1/system", require_reachable=False)
    host.capabilities = {"pools": [{"name": "default", "active": True, "capacity": 1, "allocation": 0}]}
    host.save()
    with pytest.raises(storage.StorageError) as info:
        storage.pool_volumes(host, "default")
    assert "Could not list the volumes of storage pool 'default' on host nowhere" in str(info.value)
    assert "Connection refused" in info.value.host_message
    page = client_for(admin_user).get(f"/manage/storage/{host.pk}/", {"pool": "default"}).content.decode()
    assert '<samp translate="no">' in page and "Connection refused" in page
