"""What a host is: versions, architecture, CPUs and memory, as stored in Host.capabilities."""

from __future__ import annotations

import libvirt


def _version(number: int) -> str:
    """libvirt packs versions as major * 1,000,000 + minor * 1,000 + release."""
    return f"{number // 1_000_000}.{number // 1_000 % 1_000}.{number % 1_000}"


def host_facts(conn: libvirt.virConnect) -> dict:
    arch, memory_mib, cpus, mhz, nodes, sockets, cores, threads = conn.getInfo()
    try:
        hostname = conn.getHostname()
    except libvirt.libvirtError:
        hostname = ""
    return {
        "libvirt_version": _version(conn.getLibVersion()),
        "hypervisor": conn.getType(),
        "hypervisor_version": _version(conn.getVersion()),
        "arch": arch,
        "cpus": cpus,
        "cpu_mhz": mhz,
        "numa_nodes": nodes,
        "sockets": sockets,
        "cores": cores,
        "threads": threads,
        "memory_mib": memory_mib,
        "hostname": hostname,
    }
