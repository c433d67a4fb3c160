"""Hosts' storage pools and volumes: what the Storage page and the pools API show and change.

Where the facts come from (docs/templates.md, "Storage pools and volumes"):
- the pools, with their capacity, are the host's stored facts (Host.capabilities, written by the
  watcher on every connect and by a host check): the list of pools is read from the database, never
  from libvirt while a page renders; "Refresh" re-reads them from the host on request and stores them;
- the volumes of one pool are not stored anywhere (a pool can hold thousands, and they change behind
  our back), so they are read from the host when someone asks for that pool, with a deadline
  (STORAGE_TIMEOUT): a host that hangs costs the request seconds, not minutes;
- deleting a volume reads the pool again first and decides who owns the volume then, never from what
  a page showed earlier.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from lxml import etree

from audit import log as audit_log
from vms.choices import VMState, VolumeOwner
from vms.hypervisor import storage as hv_storage
from vms.hypervisor.connection import call_with_timeout
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.hostinfo import read_pools
from vms.hypervisor.inventory import volume_vm_uuid
from vms.models import Host, ImageCopy, VirtualMachine
from vms.services.placement import reserved_disk_by_pool

T = TypeVar("T")

STORAGE_TIMEOUT = 15.0  # seconds a host has to answer a storage request a person waits on
# Image copies are made in this pool (vms/runners/images.py): a volume of that name elsewhere is not one.
IMAGE_POOL = "default"
# libvirt allows nearly any name; ours also becomes part of paths and URLs, so: letters, digits, . _ -
POOL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
POOL_NAME_RULE = gettext_lazy(
    "Use 1 to 64 letters, digits, dots, hyphens or underscores, starting with a letter or digit."
)
MAX_PATH = 4096


class StorageError(Exception):
    """The host refused or did not answer: `sentence` says what failed on which host, `host_message`
    is the host's own words (shown as machine text, not translated)."""

    def __init__(self, sentence: str, host_message: str) -> None:
        self.sentence = sentence
        self.host_message = host_message
        super().__init__(f"{sentence}: {host_message}" if host_message else sentence)


class VolumeInUse(Exception):
    """A volume someone owns: it is never deleted from here."""


@dataclass
class Volume:
    name: str
    path: str
    capacity: int
    allocation: int
    format: str
    owner: str = VolumeOwner.NOBODY
    owner_name: str = ""
    owner_vm: VirtualMachine | None = None  # for a link to the VM's page

    @property
    def owner_label(self) -> str:
        return VolumeOwner(self.owner).label

    @property
    def deletable(self) -> bool:
        return self.owner == VolumeOwner.NOBODY


@dataclass
class PoolRow:
    """One pool of one host as the page and the API show it (bytes, from the host's stored facts)."""

    name: str
    active: bool
    path: str = ""
    capacity: int | None = None
    allocation: int | None = None
    available: int | None = None
    reserved_gib: int = 0  # what our VMs' disks in this pool may grow to, in total

    @property
    def reserved_bytes(self) -> int:
        return self.reserved_gib * 2**30

    @property
    def used_percent(self) -> int:
        return round(100 * self.allocation / self.capacity) if self.capacity else 0

    @property
    def reserved_percent(self) -> int:
        return min(100, round(100 * self.reserved_bytes / self.capacity)) if self.capacity else 0


@dataclass
class HostStorage:
    host: Host
    pools: list[PoolRow] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return "pools" in (self.host.capabilities or {})


# --- reading the stored facts (no libvirt) -----------------------------------------------------------


def _rows(host: Host, reserved: dict[tuple[int, str], int]) -> list[PoolRow]:
    rows = []
    for pool in (host.capabilities or {}).get("pools", []):
        rows.append(
            PoolRow(
                name=pool.get("name", ""),
                active=bool(pool.get("active")),
                path=pool.get("path", ""),
                capacity=pool.get("capacity"),
                allocation=pool.get("allocation"),
                available=pool.get("available"),
                reserved_gib=reserved.get((host.pk, pool.get("name", "")), 0),
            )
        )
    return sorted(rows, key=lambda r: r.name)


def fleet_storage(hosts: Iterable[Host]) -> list[HostStorage]:
    """Every given host with its pools as last reported, and what our VMs reserve in each."""
    hosts = list(hosts)
    reserved = reserved_disk_by_pool([h.pk for h in hosts])
    return [HostStorage(host, _rows(host, reserved)) for host in hosts]


def host_pools(host: Host) -> list[PoolRow]:
    return fleet_storage([host])[0].pools


def stored_pool(host: Host, name: str) -> PoolRow | None:
    return next((p for p in host_pools(host) if p.name == name), None)


# --- talking to the host ----------------------------------------------------------------------------


def _on_host(host: Host, fn: Callable[..., T], sentence: str) -> T:
    """fn(conn) on the host within STORAGE_TIMEOUT; a failure becomes a StorageError with `sentence`."""
    try:
        return call_with_timeout(host.uri, fn, STORAGE_TIMEOUT, "use the storage")
    except HypervisorError as exc:
        raise StorageError(sentence, exc.host_message or str(exc)) from exc


def _store_pools(host: Host, pools: list[dict]) -> None:
    # Only the pools change: the other facts are the last check's, and the watcher's next connect
    # writes the whole description again anyway.
    with transaction.atomic():
        locked = Host.objects.select_for_update().get(pk=host.pk)
        facts = dict(locked.capabilities or {})
        facts["pools"] = pools
        Host.objects.filter(pk=host.pk).update(capabilities=facts)
    host.capabilities = facts


def refresh_pools(host: Host, pool_name: str = "") -> list[PoolRow]:
    """Re-read the host's pools (one pool's directory first, when named) and store what it reports."""
    if pool_name and stored_pool(host, pool_name) is None:
        raise ValidationError(
            {"pool": _("Host %(host)s has no storage pool '%(pool)s'.") % {"host": host.name, "pool": pool_name}}
        )

    def read(conn):
        if pool_name:
            hv_storage.refresh_named_pool(conn, pool_name)
            return read_pools(conn)
        return read_pools(conn, refresh=True)

    if pool_name:
        sentence = _("Could not refresh storage pool '%(pool)s' on host %(host)s") % {
            "pool": pool_name,
            "host": host.name,
        }
    else:
        sentence = _("Could not refresh the storage pools of host %(host)s") % {"host": host.name}
    _store_pools(host, _on_host(host, read, sentence))
    return host_pools(host)


def validate_pool_input(name: str, path: str) -> tuple[str, str]:
    """The name and path of a new dir pool, or a ValidationError saying what is wrong with each."""
    errors: dict[str, str] = {}
    name = (name or "").strip()
    path = path or ""
    if not POOL_NAME_RE.match(name):
        errors["name"] = str(POOL_NAME_RULE)
    if not path.startswith("/"):
        errors["path"] = _("Give an absolute directory path on the host, such as /var/lib/libvirt/pools/fast.")
    elif ".." in path.split("/"):
        errors["path"] = _("The path may not contain '..'; give the directory itself.")
    elif len(path) > MAX_PATH or any(ord(c) < 32 or ord(c) == 127 for c in path):
        errors["path"] = _("The path may not contain control characters or be longer than %(max)d characters.") % {
            "max": MAX_PATH
        }
    if errors:
        raise ValidationError(errors)
    # One spelling of the directory: libvirt compares pool targets as written.
    path = "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
    return name, path


def define_pool(host: Host, name: str, path: str, actor) -> PoolRow:
    """Define, build and start a dir pool on the host, store the host's pools again. Audited."""
    name, path = validate_pool_input(name, path)
    if stored_pool(host, name) is not None:
        raise ValidationError(
            {"name": _("Host %(host)s already has a storage pool '%(pool)s'.") % {"host": host.name, "pool": name}}
        )

    def define(conn):
        hv_storage.define_dir_pool(conn, name, path)
        return read_pools(conn)

    sentence = _("Could not define storage pool '%(pool)s' at %(path)s on host %(host)s") % {
        "pool": name,
        "path": path,
        "host": host.name,
    }
    pools = _on_host(host, define, sentence)
    _store_pools(host, pools)
    audit_log.record(actor, "pool.define", host, pool=name, path=path)
    return stored_pool(host, name)


# --- volumes and who owns them ----------------------------------------------------------------------


def _disk_sources(domain_xml: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The file/block paths and the (pool, volume) pairs the domain's disks use."""
    paths: set[str] = set()
    volumes: set[tuple[str, str]] = set()
    if not domain_xml:
        return paths, volumes
    try:
        root = etree.fromstring(domain_xml.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return paths, volumes
    for source in root.iterfind("devices/disk/source"):
        for attr in ("file", "dev"):
            if source.get(attr):
                paths.add(source.get(attr))
        if source.get("pool") and source.get("volume"):
            volumes.add((source.get("pool"), source.get("volume")))
    return paths, volumes


def classify(host: Host, pool_name: str, volumes: list[dict]) -> list[Volume]:
    """Each volume with its owner, first match wins:

    1. a VM of ours: the volume is named from the VM's UUID (vms/hypervisor/volumes.disk_volume_name,
       the cloud-init seed), and that VM is not deleted;
    2. an image copy: in the images' pool, named as an image copied to this host;
    3. a VM whose domain XML uses the volume (by path, or by pool and name): ours, or a discovered
       (managed=False) one;
    4. nobody.
    """
    result = [Volume(**v) for v in volumes]
    uuids = {u for u in (volume_vm_uuid(v.name) for v in result) if u}
    by_uuid = {str(vm.uuid): vm for vm in VirtualMachine.objects.filter(uuid__in=uuids).exclude(state=VMState.DELETED)}
    copies = {}
    if pool_name == IMAGE_POOL:
        copies = {
            c.volume: c
            for c in ImageCopy.objects.filter(host=host, volume__in=[v.name for v in result]).select_related("image")
        }
    users: dict[str, VirtualMachine] = {}
    for vm in VirtualMachine.objects.filter(host=host).exclude(state=VMState.DELETED).exclude(domain_xml=""):
        paths, pairs = _disk_sources(vm.domain_xml)
        for path in paths:
            users.setdefault(path, vm)
        for pool, vol in pairs:
            if pool == pool_name:
                users.setdefault(f"\0{vol}", vm)
    for volume in result:
        vm = by_uuid.get(volume_vm_uuid(volume.name) or "")
        copy = copies.get(volume.name)
        if vm is not None:
            volume.owner, volume.owner_name, volume.owner_vm = VolumeOwner.VM, vm.name, vm
        elif copy is not None:
            volume.owner, volume.owner_name = VolumeOwner.IMAGE, copy.image.name
        else:
            user = users.get(volume.path) or users.get(f"\0{volume.name}")
            if user is not None:
                volume.owner = VolumeOwner.VM if user.managed else VolumeOwner.DISCOVERED
                volume.owner_name, volume.owner_vm = user.name, user
    return result


def pool_volumes(host: Host, pool_name: str) -> list[Volume]:
    """The pool's volumes as the host has them now (refreshed), each with its owner."""
    sentence = _("Could not list the volumes of storage pool '%(pool)s' on host %(host)s") % {
        "pool": pool_name,
        "host": host.name,
    }
    volumes = _on_host(host, lambda conn: hv_storage.list_volumes(conn, pool_name), sentence)
    return classify(host, pool_name, volumes)


def delete_volume(host: Host, pool_name: str, volume_name: str, actor) -> Volume:
    """Delete one volume that nobody owns. Audited.

    Who owns it is decided now, from the pool as the host has it now: a VM made since the page was
    shown keeps its disk. Raises VolumeInUse (nothing deleted) or LookupError (no such volume).
    """
    volume = next((v for v in pool_volumes(host, pool_name) if v.name == volume_name), None)
    if volume is None:
        raise LookupError(
            _("Storage pool '%(pool)s' on host %(host)s has no volume '%(volume)s'.")
            % {"pool": pool_name, "host": host.name, "volume": volume_name}
        )
    if not volume.deletable:
        refusals = {
            VolumeOwner.VM: _("Volume '%(volume)s' is a disk of the VM %(owner)s; it was not deleted."),
            VolumeOwner.IMAGE: _("Volume '%(volume)s' is this host's copy of the image %(owner)s; it was not deleted."),
            VolumeOwner.DISCOVERED: _(
                "Volume '%(volume)s' is used by the discovered VM %(owner)s; it was not deleted."
            ),
        }
        raise VolumeInUse(refusals[volume.owner] % {"volume": volume_name, "owner": volume.owner_name})
    sentence = _("Could not delete volume '%(volume)s' in storage pool '%(pool)s' on host %(host)s") % {
        "volume": volume_name,
        "pool": pool_name,
        "host": host.name,
    }
    _on_host(host, lambda conn: hv_storage.delete_volume(conn, pool_name, volume_name), sentence)
    audit_log.record(
        actor, "volume.delete", host, pool=pool_name, volume=volume_name, path=volume.path, size=volume.capacity
    )
    try:
        refresh_pools(host)  # the pool's free space changed: the stored facts follow
    except StorageError:
        pass  # the delete itself succeeded; the next check or connect brings the numbers
    return volume
