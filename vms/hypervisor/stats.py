"""Bulk domain statistics (one RPC per host) and the rates shown as sparklines.

libvirt reports counters (CPU nanoseconds, bytes read); a rate needs two samples, so the watcher keeps
the previous sample of every domain and `rates` turns a pair into per-second figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import libvirt

STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)


@dataclass(frozen=True)
class DomainSample:
    uuid: str
    taken_at: float  # time.monotonic()
    vcpus: int
    cpu_time_ns: int
    memory_total_kib: int
    memory_used_kib: int
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int


def _sum(record: dict, prefix: str, count_key: str, field: str) -> int:
    return sum(int(record.get(f"{prefix}.{i}.{field}", 0)) for i in range(int(record.get(count_key, 0))))


def sample_from_record(uuid: str, record: dict, taken_at: float) -> DomainSample:
    total = int(record.get("balloon.current", record.get("balloon.maximum", 0)))
    # rss is what QEMU really uses; without a balloon driver "unused" is missing, so fall back to rss.
    if "balloon.unused" in record and "balloon.available" in record:
        used = int(record["balloon.available"]) - int(record["balloon.unused"])
    else:
        used = int(record.get("balloon.rss", total))
    return DomainSample(
        uuid=uuid,
        taken_at=taken_at,
        vcpus=int(record.get("vcpu.current", 1)) or 1,
        cpu_time_ns=int(record.get("cpu.time", 0)),
        memory_total_kib=total,
        memory_used_kib=min(used, total) if total else used,
        disk_read_bytes=_sum(record, "block", "block.count", "rd.bytes"),
        disk_write_bytes=_sum(record, "block", "block.count", "wr.bytes"),
        net_rx_bytes=_sum(record, "net", "net.count", "rx.bytes"),
        net_tx_bytes=_sum(record, "net", "net.count", "tx.bytes"),
    )


def collect(conn: libvirt.virConnect) -> list[DomainSample]:
    """Samples of every running or paused domain on the host (blocking: one RPC)."""
    flags = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
    now = time.monotonic()
    return [sample_from_record(dom.UUIDString(), record, now) for dom, record in conn.getAllDomainStats(STATS, flags)]


def _per_second(new: int, old: int, seconds: float) -> float:
    # A counter that went down means the domain restarted: no rate this time rather than a negative one.
    return max(new - old, 0) / seconds


def rates(previous: DomainSample | None, current: DomainSample) -> dict:
    """Sparkline point: CPU % of the domain's vCPUs, memory in MiB, disk and network bytes per second."""
    point = {
        "memory_total_mib": round(current.memory_total_kib / 1024, 1),
        "memory_used_mib": round(current.memory_used_kib / 1024, 1),
        "cpu_percent": None,
        "disk_read_bps": None,
        "disk_write_bps": None,
        "net_rx_bps": None,
        "net_tx_bps": None,
    }
    if previous is None or current.taken_at <= previous.taken_at:
        return point
    seconds = current.taken_at - previous.taken_at
    cpu = _per_second(current.cpu_time_ns, previous.cpu_time_ns, seconds) / 1e9 / current.vcpus * 100
    point.update(
        cpu_percent=round(min(cpu, 100.0), 1),
        disk_read_bps=round(_per_second(current.disk_read_bytes, previous.disk_read_bytes, seconds)),
        disk_write_bps=round(_per_second(current.disk_write_bytes, previous.disk_write_bytes, seconds)),
        net_rx_bps=round(_per_second(current.net_rx_bytes, previous.net_rx_bytes, seconds)),
        net_tx_bps=round(_per_second(current.net_tx_bytes, previous.net_tx_bytes, seconds)),
    )
    return point
