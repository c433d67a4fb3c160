"""Choosing a host for a new VM, from the database alone (what hosts reported, what is reserved)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _
from lxml import etree

from vms.choices import CopyState, ImageKind, VMState
from vms.domainxml.interfaces import wiring_of
from vms.hypervisor.hostinfo import active_pools
from vms.models import Host, Image, VirtualMachine, VMTemplate

# VMs in these states hold no resources on their host.
NOT_RESERVING = [VMState.DELETED, VMState.FAILED]
# The pool a template's disks go to when it names none (the one every sandbox and Debian host has).
DEFAULT_POOL = "default"


class NoHostAvailable(Exception):
    pass


@dataclass(frozen=True)
class Need:
    vcpus: int
    memory_mib: int
    disk_gib: int
    # A new VM's disk is an overlay on the template's base image, which the host must have; a VM that
    # moves brings whole copies of its disks and needs no base image there.
    base_image: bool = True


def pool_of(template: VMTemplate | None) -> str:
    """The storage pool a template's VM disks are made in."""
    return (template.storage_pool if template is not None else "") or DEFAULT_POOL


def reserved_disk_by_pool(host_ids) -> dict[tuple[int, str], int]:
    """GiB our VMs hold per (host id, pool): each VM's disk size, in its template's pool.

    Roughly: a VM whose template was deleted, or named another pool after the VM was made, is counted
    in its template's pool of today (or the default pool).
    """
    rows = (
        VirtualMachine.objects.filter(host_id__in=host_ids)
        .exclude(state__in=NOT_RESERVING)
        .values("host_id", "template__storage_pool")
        .annotate(total=Sum("disk_gib"))
    )
    reserved: dict[tuple[int, str], int] = {}
    for row in rows:
        key = (row["host_id"], row["template__storage_pool"] or DEFAULT_POOL)
        reserved[key] = reserved.get(key, 0) + (row["total"] or 0)
    return reserved


def _pool_facts(host: Host, name: str) -> dict | None:
    return next((p for p in active_pools(host.capabilities) if p.get("name") == name), None)


def _candidates():
    reserving = ~Q(vms__state__in=NOT_RESERVING)
    return Host.objects.filter(enabled=True).annotate(
        reserved_memory=Sum("vms__memory_mib", filter=reserving, default=0),
        vm_count=Count("vms", filter=reserving),
    )


def _missing_wiring(host: Host, template: VMTemplate) -> str | None:
    """A network or bridge the template's interfaces join that the host lacks, in words; None if none.

    From the host's stored facts (the host check and the watcher store them). Without this a VM would be
    placed there and adapt() would quietly rewire its interface to another network. A host whose facts
    do not list networks (never checked) or cannot list bridges (no interface driver) is not refused
    for what is unknown.
    """
    wiring = wiring_of(template.domain_xml)
    caps = host.capabilities
    if wiring.networks and "networks" in caps:
        active = {n.get("name") for n in caps["networks"] if n.get("active")}
        for name in sorted(wiring.networks - active):
            return _("%(host)s has no active libvirt network %(name)s, which this template uses.") % {
                "host": host.name,
                "name": name,
            }
    if wiring.bridges and caps.get("bridges_known"):
        bridges = set(caps.get("bridges") or []) | {n.get("bridge") for n in caps.get("networks") or []}
        for name in sorted(wiring.bridges - bridges):
            return _("%(host)s has no bridge %(name)s, which this template uses.") % {"host": host.name, "name": name}
    return None


def _cdrom_images(template: VMTemplate) -> list[Image]:
    """The library ISOs in the template's CD-ROM drives (volumes of the default pool, as templates name them)."""
    try:
        root = etree.fromstring(template.domain_xml.encode())
    except etree.XMLSyntaxError:
        return []
    volumes = root.xpath(f"devices/disk[@device='cdrom']/source[@pool='{DEFAULT_POOL}']/@volume")
    return list(Image.objects.filter(kind=ImageKind.ISO, volume__in=volumes)) if volumes else []


def _missing_cdrom_image(host: Host, template: VMTemplate) -> str | None:
    """A template that boots an ISO of the library (e.g. "Install from ISO") needs its copy on the host:
    without it the domain would not start there."""
    for image in _cdrom_images(template):
        if not host.image_copies.filter(image=image, state=CopyState.READY).exists():
            return _("%(host)s does not have the ISO %(image)s yet (copy it from the Images page).") % {
                "host": host.name,
                "image": image.name,
            }
    return None


def why_not(host: Host, template: VMTemplate, need: Need) -> str | None:
    """None when the host fits, else a sentence saying why not."""
    if not host.enabled:
        return _("%(host)s is disabled.") % {"host": host.name}
    if not host.online:
        return _("%(host)s is offline.") % {"host": host.name}
    if host.maintenance:
        return _("%(host)s is in maintenance.") % {"host": host.name}
    caps = host.capabilities
    if template.requires_kvm and not caps.get("kvm"):
        return _("%(host)s has no usable KVM, which this template requires.") % {"host": host.name}
    missing = _missing_wiring(host, template)
    if missing:
        return missing
    if (
        need.base_image
        and template.base_image
        and not host.image_copies.filter(volume=template.base_image, state=CopyState.READY).exists()
    ):
        return _("%(host)s does not have the base image yet (copy it from the Images page).") % {"host": host.name}
    missing_iso = _missing_cdrom_image(host, template)
    if missing_iso:
        return missing_iso
    free_memory = caps.get("memory_mib", 0) - (host.reserved_memory or 0)
    if free_memory < need.memory_mib:
        return _("%(host)s has %(free)s MiB of memory left, %(need)s MiB needed.") % {
            "host": host.name,
            "free": max(free_memory, 0),
            "need": need.memory_mib,
        }
    if need.disk_gib:
        # The pool the template names, as the host last reported it, less what our VMs hold there.
        pool_name = pool_of(template)
        pool = _pool_facts(host, pool_name)
        if pool is None:
            return _("%(host)s has no active storage pool '%(pool)s', which this template's disks go to.") % {
                "host": host.name,
                "pool": pool_name,
            }
        reserved = reserved_disk_by_pool([host.pk]).get((host.pk, pool_name), 0)
        free_disk = pool.get("available", 0) / 2**30 - reserved
        if free_disk < need.disk_gib:
            return _("%(host)s has %(free).0f GiB left in storage pool '%(pool)s', %(need)s GiB needed.") % {
                "host": host.name,
                "free": max(free_disk, 0),
                "pool": pool_name,
                "need": need.disk_gib,
            }
    return None


def choose_host(template: VMTemplate, need: Need, preferred: Host | None = None, exclude: Iterable[int] = ()) -> Host:
    """The fitting host with the most memory left (spreads VMs); `preferred` must fit or we say why.
    `exclude`: ids of hosts not to choose (the one a VM moves away from)."""
    hosts = list(_candidates().exclude(pk__in=list(exclude)))
    if preferred is not None:
        host = next((h for h in hosts if h.pk == preferred.pk), None)
        reason = why_not(host, template, need) if host else _("%(host)s is disabled.") % {"host": preferred.name}
        if reason:
            raise NoHostAvailable(reason)
        return host
    fitting = [h for h in hosts if why_not(h, template, need) is None]
    if not fitting:
        reasons = " ".join(why_not(h, template, need) for h in hosts) or _("No enabled host is registered.")
        raise NoHostAvailable(_("No host can take this VM now. %(reasons)s") % {"reasons": reasons})
    return max(fitting, key=lambda h: (h.capabilities.get("memory_mib", 0) - (h.reserved_memory or 0), -h.vm_count))
