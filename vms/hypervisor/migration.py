"""Moving a domain to another host: live migration without shared storage. No Django (docs/migration.md).

The migration is libvirt's managed one, driven through the two connections the dashboard already
holds (`virDomainMigrate3` with the target's connection), not peer-to-peer: peer-to-peer makes the
source's libvirtd open a connection of its own to the target, which needs keys or certificates
between every pair of hosts; the managed migration needs nothing the dashboard does not already have.
Either way the data goes host to host: QEMU's migration stream and, for the disks, an NBD mirror from
the source's QEMU to a server the target's QEMU opens (`VIR_MIGRATE_NON_SHARED_DISK`, full copy). Both
go to `data_host`, the target's address as the dashboard reaches it (otherwise libvirt would use the
target's host name, which on many machines resolves to a loopback address).

If the connection that drives it drops (the worker killed), libvirt ends the migration on both sides and
the VM keeps running on the source: there is never a second running copy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import libvirt

from vms.hypervisor.errors import HypervisorError, wrap
from vms.hypervisor.uris import safe_uri

LIVE_FLAGS = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    | libvirt.VIR_MIGRATE_NON_SHARED_DISK
)
POLL_S = 0.5


class MigrationCancelled(HypervisorError):
    """The migration was aborted on request; the VM runs on the source as before."""


@dataclass(frozen=True)
class MigrationProgress:
    fraction: float  # 0..1 of the bytes libvirt expects to send (memory and disks)
    remaining_bytes: int
    total_bytes: int
    dirty_rate: int  # guest memory pages dirtied per second, in bytes


@dataclass(frozen=True)
class MigrationResult:
    domain: libvirt.virDomain  # on the target
    downtime_ms: int | None  # how long the guest was paused at the switch, when libvirt says
    seconds: float


def data_host(uri: str) -> str:
    """Where the migration data goes: the host of the target's libvirt URI."""
    host = urlsplit(uri).hostname
    if not host:
        raise HypervisorError("migrate to a local URI", safe_uri(uri), "the target must be named by an address")
    return f"[{host}]" if ":" in host else host


def progress_of(stats: dict) -> MigrationProgress | None:
    """What libvirt's job statistics say of a running migration (None before it has numbers)."""
    total = int(stats.get("data_total") or 0)
    if total <= 0:
        return None
    remaining = int(stats.get("data_remaining") or 0)
    return MigrationProgress(
        fraction=min(max(1 - remaining / total, 0.0), 1.0),
        remaining_bytes=remaining,
        total_bytes=total,
        dirty_rate=int(stats.get("memory_dirty_rate") or 0) * int(stats.get("memory_page_size") or 4096),
    )


def migrate_live(
    dom: libvirt.virDomain,
    target_conn: libvirt.virConnect,
    *,
    target_uri: str,
    dest_xml: str,
    persist_xml: str,
    on_progress: Callable[[MigrationProgress], None],
    should_cancel: Callable[[], bool],
) -> MigrationResult:
    """Move the running domain to the target's connection, its disks copied; the source's definition goes.

    `dest_xml`: the migratable XML with the target's paths; `persist_xml`: the definition the target
    keeps (the source's saved one, with the same changes). Blocks until done; reports progress every
    half second and aborts when `should_cancel()` says so (raises MigrationCancelled then).
    """
    params = {
        libvirt.VIR_MIGRATE_PARAM_URI: f"tcp://{data_host(target_uri)}",
        libvirt.VIR_MIGRATE_PARAM_DEST_XML: dest_xml,
        libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: persist_xml,
    }
    name = dom.name()
    where = f"host {safe_uri(dom.connect().getURI())} to {safe_uri(target_conn.getURI())}"
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["domain"] = dom.migrate3(target_conn, params, LIVE_FLAGS)
        except libvirt.libvirtError as exc:
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=run, name=f"migrate {name}", daemon=True)
    worker.start()
    aborted = False
    while worker.is_alive():
        worker.join(POLL_S)
        if not worker.is_alive():
            break
        if not aborted and should_cancel():
            aborted = True
            try:
                dom.abortJob()
            except libvirt.libvirtError:
                pass  # it ended meanwhile: its own outcome tells
            continue
        try:
            progress = progress_of(dom.jobStats(0))
        except libvirt.libvirtError:
            progress = None  # between phases libvirt may have no job to report on
        if progress is not None:
            on_progress(progress)
    if "error" in outcome:
        exc = outcome["error"]
        if aborted:
            raise MigrationCancelled(f"migrate VM '{name}'", where, "cancelled; it still runs on its host") from exc
        raise wrap(exc, f"migrate VM '{name}'", where) from exc
    moved = outcome["domain"]
    return MigrationResult(moved, _downtime_ms(moved), time.monotonic() - started)


def _downtime_ms(dom: libvirt.virDomain) -> int | None:
    try:
        stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    except libvirt.libvirtError:
        return None
    value = stats.get("downtime")
    return int(value) if value is not None else None
