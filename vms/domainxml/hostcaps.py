"""Fetch what adapt() needs from a live libvirt connection.

Kept apart from adapt.py so the engine stays pure (XML in, XML out) and testable without a
hypervisor; this is the only module that imports libvirt.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import libvirt

from vms.hypervisor import ssh
from vms.hypervisor.hostinfo import read_bridges, read_networks, read_pools

from .adapt import AdaptResult, adapt
from .model import Domain


@dataclass
class HostFacts:
    """Everything adapt() takes about one host, fetched once."""

    capabilities_xml: str
    bridges: set[str] | None
    networks: list[str] | None
    pool_dirs: list[str] = field(default_factory=list)
    domain_caps_xml: dict[tuple[str, str | None, str], str | None] = field(default_factory=dict)


def _bridges(conn: Any) -> set[str] | None:
    """Bridges a guest NIC can join: host bridges (interface driver) plus networks' bridges.

    None when the host cannot tell us (no interface driver), so adapt() leaves bridges alone
    instead of rewiring NICs on a guess.
    """
    host_bridges = read_bridges(conn)
    if host_bridges is None:
        return None
    try:
        networks = read_networks(conn)
    except libvirt.libvirtError:
        networks = []
    return set(host_bridges) | {n["bridge"] for n in networks if n["bridge"]}


def _networks(conn: Any) -> list[str] | None:
    try:
        return [n["name"] for n in read_networks(conn) if n["active"]]
    except libvirt.libvirtError:
        return None


def _pool_dirs(conn: Any) -> list[str]:
    try:
        pools = read_pools(conn, refresh=True)  # refreshed: files copied in since the last refresh count
    except libvirt.libvirtError:
        return []
    return [os.path.normpath(p["path"]) for p in pools if p["active"] and p.get("path")]


def fetch_host_facts(conn: Any) -> HostFacts:
    return HostFacts(
        capabilities_xml=conn.getCapabilities(),
        bridges=_bridges(conn),
        networks=_networks(conn),
        pool_dirs=_pool_dirs(conn),
    )


def domain_caps_fetcher(conn: Any, facts: HostFacts):  # type: ignore[no-untyped-def]
    """A callable for adapt(): (arch, machine, virt_type) -> domain capabilities XML, cached."""

    def fetch(arch: str, machine: str | None, virt_type: str) -> str | None:
        key = (arch, machine, virt_type)
        if key not in facts.domain_caps_xml:
            try:
                facts.domain_caps_xml[key] = conn.getDomainCapabilities(None, arch, machine, virt_type, 0)
            except libvirt.libvirtError:
                facts.domain_caps_xml[key] = None
        return facts.domain_caps_xml[key]

    return fetch


def path_checker(conn: Any, facts: HostFacts):  # type: ignore[no-untyped-def]
    """A callable for adapt(): does a disk path exist on the host?

    A remote host's files can only be seen through its storage pools: a path inside a pool's
    directory exists iff the pool has that volume; a path outside every pool is unknown (None),
    and adapt() leaves such disks alone.
    """

    def exists(path: str) -> bool | None:
        try:
            conn.storageVolLookupByPath(path)
            return True
        except libvirt.libvirtError:
            pass
        parent = os.path.dirname(os.path.normpath(path))
        return False if parent in facts.pool_dirs else None

    return exists


def adapt_to_connection(
    domain: Domain | str | bytes,
    conn: Any,
    *,
    fallback_network: str | None = None,
    virt_types: Sequence[str] = ("kvm", "qemu"),
) -> AdaptResult:
    """adapt() with everything fetched from `conn` (a libvirt.virConnect)."""
    facts = fetch_host_facts(conn)
    return adapt(
        domain,
        facts.capabilities_xml,
        domain_caps_fetcher(conn, facts),
        bridges=facts.bridges,
        networks=facts.networks,
        fallback_network=fallback_network,
        path_exists=path_checker(conn, facts),
        virt_types=virt_types,
    )


def quiet_libvirt_errors() -> None:
    """Stop libvirt from printing every (expected, handled) error to stderr in this process."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def adapt_to_uri(domain: Domain | str | bytes, uri: str, **kwargs: Any) -> AdaptResult:
    """Open `uri`, adapt, close. Raises libvirt.libvirtError if the host is unreachable.

    A read-write connection is needed for domain capabilities (libvirt refuses them on a
    read-only one); if it is refused we still adapt with host capabilities only.
    """
    uri = ssh.transport_uri(uri, ssh.identity())  # an SSH host through the project's key and known_hosts
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError:
        conn = libvirt.openReadOnly(uri)
    try:
        return adapt_to_connection(domain, conn, **kwargs)
    finally:
        conn.close()
