"""Read-only queries for portal pages. Aggregates only: no per-VM queries, never libvirt."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber

from audit.models import AuditEntry
from portal.choices import RequestState
from portal.models import VMRequest
from vms.choices import VMState
from vms.hypervisor.hostinfo import default_pool
from vms.models import Host, VirtualMachine
from vms.services.placement import NOT_RESERVING

HOST_VM_PREVIEW = 25


def visible_requests(user) -> QuerySet[VMRequest]:
    qs = VMRequest.objects.select_related("template", "requester", "vm", "decided_by", "host")
    if user.is_staff:
        return qs
    return qs.filter(requester=user)


def pending_requests() -> QuerySet[VMRequest]:
    return visible_requests_for_admin().filter(state=RequestState.PENDING).order_by("created_at", "id")


def visible_requests_for_admin() -> QuerySet[VMRequest]:
    return VMRequest.objects.select_related("template", "requester", "vm", "host")


def _pct(part: float, whole: float) -> int:
    return round(100 * part / whole) if whole else 0


def _pool_gib(caps: dict) -> float:
    pool = default_pool(caps)
    return (pool.get("capacity", 0) / 2**30) if pool else 0.0


def host_rows(preview: int = HOST_VM_PREVIEW) -> dict:
    """Every host with capacity (allocated vs physical), VM counts by state, and its first VMs by name.

    Four queries whatever the fleet size: hosts, allocations, state counts, and a windowed preview.
    """
    hosts = list(Host.objects.order_by("name"))
    allocated = {
        row["host_id"]: row
        for row in VirtualMachine.objects.exclude(state__in=NOT_RESERVING)
        .order_by()
        .values("host_id")
        .annotate(vcpus=Sum("vcpus"), memory=Sum("memory_mib"), disk=Sum("disk_gib"), n=Count("id"))
    }
    by_state: dict[int | None, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for row in (
        VirtualMachine.objects.exclude(state=VMState.DELETED)
        .order_by()
        .values("host_id", "state")
        .annotate(n=Count("id"))
    ):
        by_state[row["host_id"]][row["state"]] = row["n"]
        totals[row["state"]] += row["n"]
    previews: dict[int, list] = defaultdict(list)
    if preview:
        ranked = (
            VirtualMachine.objects.exclude(state=VMState.DELETED)
            .filter(host__isnull=False)
            .annotate(rank=Window(RowNumber(), partition_by=[F("host_id")], order_by=[F("name").asc(), F("id").asc()]))
            .filter(rank__lte=preview)
            .select_related("owner")
            .order_by("host_id", "name", "id")
        )
        for vm in ranked:
            previews[vm.host_id].append(vm)
    rows = []
    for host in hosts:
        caps = host.capabilities or {}
        alloc = allocated.get(host.pk, {})
        cpus, memory, disk = caps.get("cpus", 0), caps.get("memory_mib", 0), _pool_gib(caps)
        used = (alloc.get("vcpus") or 0, alloc.get("memory") or 0, alloc.get("disk") or 0)
        states = by_state.get(host.pk, {})
        rows.append(
            {
                "host": host,
                "id": host.pk,
                "online": host.online,
                "enabled": host.enabled,
                "vm_count": sum(states.values()),
                "by_state": dict(sorted(states.items())),
                "capacity": [
                    {"key": "vcpus", "used": used[0], "total": cpus, "percent": _pct(used[0], cpus)},
                    {"key": "memory", "used": used[1], "total": memory, "percent": _pct(used[1], memory)},
                    {"key": "disk", "used": used[2], "total": round(disk), "percent": _pct(used[2], disk)},
                ],
                "vms": previews.get(host.pk, []),
            }
        )
    return {
        "hosts": rows,
        "totals": dict(sorted(totals.items())),
        "vm_count": sum(totals.values()),
        "unplaced": sum(by_state.get(None, {}).values()),
    }


def summary_json(overview: dict) -> dict:
    """The live part of the fleet page, as JSON."""
    return {
        "vm_count": overview["vm_count"],
        "totals": overview["totals"],
        "hosts": [
            {
                "id": r["id"],
                "online": r["online"],
                "vm_count": r["vm_count"],
                "by_state": r["by_state"],
                "capacity": r["capacity"],
            }
            for r in overview["hosts"]
        ],
    }


def visible_entries(user) -> QuerySet[AuditEntry]:
    """Admins see everything; others what they did and what was done to their VMs and requests."""
    if user is None or not user.is_authenticated:
        return AuditEntry.objects.none()
    qs = AuditEntry.objects.select_related("actor")
    if user.is_staff:
        return qs
    own_vms = [str(pk) for pk in VirtualMachine.objects.filter(owner=user).values_list("pk", flat=True)]
    own_requests = [str(pk) for pk in VMRequest.objects.filter(requester=user).values_list("pk", flat=True)]
    return qs.filter(
        Q(actor=user)
        | Q(object_type="vm", object_id__in=own_vms)
        | Q(object_type="request", object_id__in=own_requests)
    )
