"""The move job (`vm.migrate`, a change of the VM; vms/services/moves.py queues it). docs/migration.md.

A running VM moves live (vms/hypervisor/migration.py: memory and disks copied while it runs, a pause
of a fraction of a second at the switch); a stopped one offline (each disk copied through the two
libvirt connections, the domain defined on the new host and removed from the old one).

Steps: check both hosts (which files go where; the new host has the pools, no leftovers, the ISOs in
the drives), copy the VM's own cloud-init seed, copy memory and disks, switch (the row names the new
host), remove the disks from the old host. Files keep their names and land in the pool of the same
name on the new host.

Where the VM is decides everything after a failure or a lost worker (`on_failure`, and `run` when it
resumes): on the new host and gone from the old one, the move happened and is finished; still on the
old host, whatever was made on the new one is removed. Never two running copies: libvirt ends a live
migration on both sides when the connection that drives it drops.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import dataclass

import libvirt
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from jobs.context import JobCancelled
from jobs.errors import JobFailed, RetryRefused
from jobs.registry import register
from jobs.targets import parse_target
from vms.choices import VMChange, VMState
from vms.domainxml.clone import seed_volume_name
from vms.domainxml.errors import DomainXMLError
from vms.domainxml.hostcaps import adapt_to_connection
from vms.domainxml.move import file_sources, moved_domain
from vms.hypervisor import domains
from vms.hypervisor.connection import connection
from vms.hypervisor.graphics import listen_address_for
from vms.hypervisor.migration import MigrationCancelled, MigrationProgress, migrate_live
from vms.hypervisor.resize import set_autostart
from vms.hypervisor.volumes import (
    copy_volume,
    delete_volume_at,
    find_volume_at,
    pool_name_of,
    pool_path,
    send_volume,
)
from vms.models import Host, VirtualMachine
from vms.runners.errors import host_errors
from vms.runners.vm import VMRunner, load_vm, on_host, remember_saved_xml
from vms.services.state import set_state

MIB = 1024 * 1024
PROGRESS_LOG_S = 5.0


@dataclass(frozen=True)
class Transfer:
    """One file of the VM and where it goes."""

    source_path: str
    target_path: str
    pool: str
    fmt: str
    writable: bool  # a disk the VM writes (copied); else read-only media (the seed is sent, ISOs must be there)


def _target_of(job) -> Host:  # noqa: ANN001
    host = Host.objects.filter(pk=job.params.get("target")).first()
    if host is None:
        raise JobFailed(_t("The host this VM was to move to was removed."))
    return host


def plan(xml: str, source_conn, target_conn) -> list[Transfer]:  # noqa: ANN001
    """Where each file of the VM goes: the pool of the same name on the new host, the same file name."""
    transfers = []
    for source in file_sources(xml):
        pool = pool_name_of(source_conn, source["path"])
        target_path = f"{pool_path(target_conn, pool)}/{os.path.basename(source['path'])}"
        transfers.append(Transfer(source["path"], target_path, pool, source["format"], not source["readonly"]))
    return transfers


def _is_seed(vm: VirtualMachine, transfer: Transfer) -> bool:
    return os.path.basename(transfer.source_path) == seed_volume_name(str(vm.uuid))


def _temp_copy_path(vm: VirtualMachine, disk: Transfer, index: int) -> str:
    """The standalone copy an offline move makes next to a disk before sending it."""
    return f"{os.path.dirname(disk.source_path)}/{vm.uuid}-moving{index}.{disk.fmt}"


def _clear_old_host(vm: VirtualMachine, target_dom, source_conn, target_conn) -> None:  # noqa: ANN001
    """After a move that a stopped worker left unrecorded: the VM's disks on the old host, found by the
    same rule read backwards (the pool of the same name there, the same file name), are removed."""
    for back in plan(domains.saved_xml(target_dom), target_conn, source_conn):
        if back.writable or _is_seed(vm, back):
            delete_volume_at(source_conn, back.target_path)


def _moved(vm: VirtualMachine, target: Host, target_dom) -> None:  # noqa: ANN001
    """The row names the new host and the state the domain has there; the watcher takes over again."""
    set_state(vm, domains.state_of(target_dom), host=target, moving_to=None)  # and the vm.state message
    remember_saved_xml(vm, target_dom)


def _reporter(ctx):  # noqa: ANN001, ANN202
    """The bar follows libvirt's figures; the log says what is left and how fast the guest dirties its
    memory (what decides whether a live move converges), at most every PROGRESS_LOG_S."""
    last = [0.0]

    def report(p: MigrationProgress) -> None:
        ctx.progress(p.fraction)
        now = time.monotonic()
        if now - last[0] >= PROGRESS_LOG_S:
            last[0] = now
            ctx.log(
                _t("%(left)s MiB of %(total)s MiB left to copy; the guest dirties %(rate)s MiB/s of memory.")
                % {"left": p.remaining_bytes // MIB, "total": p.total_bytes // MIB, "rate": p.dirty_rate // MIB}
            )

    return report


@register(f"vm.{VMChange.MIGRATE}")
class MoveVM(VMRunner):
    label = _("Move to another host")
    steps = [
        ("check", _("Check both hosts")),
        ("seed", _("Copy the cloud-init seed")),
        ("transfer", _("Copy memory and disks")),
        ("switch", _("Switch to the new host")),
        ("cleanup", _("Remove the disks from the old host")),
    ]

    def check_retry(self, job, user) -> None:
        raise RetryRefused(_t("Move the VM again from its page: the host is checked anew there."))

    def run(self, ctx) -> None:
        vm = load_vm(ctx.job)
        target = _target_of(ctx.job)
        if vm.host_id == target.pk:
            ctx.log(_t("VM '%(name)s' is already on %(host)s.") % {"name": vm.name, "host": target.name})
            return
        VirtualMachine.objects.filter(pk=vm.pk).update(moving_to=target)
        uuid = str(vm.uuid)
        with on_host(ctx, vm) as source_conn, ExitStack() as stack:
            target_conn = stack.enter_context(connection(target.uri))
            with host_errors(where=target.name):
                source_dom = domains.find_by_uuid(source_conn, uuid)
                target_dom = domains.find_by_uuid(target_conn, uuid)
                if source_dom is None and target_dom is not None:
                    # An earlier attempt moved it and its worker stopped before writing it down.
                    _moved(vm, target, target_dom)
                    _clear_old_host(vm, target_dom, source_conn, target_conn)
                    ctx.log(_t("The VM had already moved; recorded."))
                    return
                with ctx.step("check"):
                    transfers, live = self._check(vm, target, source_dom, target_dom, source_conn, target_conn)
                with ctx.step("seed"):
                    self._send_seed(ctx, vm, transfers, source_conn, target_conn)
                mapping = {t.source_path: t.target_path for t in transfers}
                listen = listen_address_for(target.uri)
                with ctx.step("transfer"):
                    if live:
                        target_dom = self._migrate(ctx, vm, target, source_dom, target_conn, mapping, listen)
                    else:
                        self._copy_disks(ctx, vm, transfers, source_conn, target_conn)
                with ctx.step("switch"):
                    if not live:
                        target_dom = self._define(ctx, vm, target, source_dom, target_conn, mapping, listen)
                        domains.undefine(source_dom)
                    set_autostart(target_dom, vm.autostart)
                    _moved(vm, target, target_dom)
                with ctx.step("cleanup"):
                    for transfer in transfers:
                        if transfer.writable or _is_seed(vm, transfer):
                            delete_volume_at(source_conn, transfer.source_path)
        ctx.log(_t("VM '%(name)s' is on %(host)s now.") % {"name": vm.name, "host": target.name})

    @staticmethod
    def _check(vm, target: Host, source_dom, target_dom, source_conn, target_conn) -> tuple[list[Transfer], bool]:  # noqa: ANN001
        if source_dom is None:
            raise JobFailed(
                _t("VM '%(name)s' is not defined on %(host)s any more.") % {"name": vm.name, "host": vm.host.name}
            )
        state = domains.state_of(source_dom)
        if state not in (VMState.RUNNING, VMState.STOPPED, VMState.CRASHED):
            raise JobFailed(
                _t("VM '%(name)s' is %(state)s: it moves running or stopped.") % {"name": vm.name, "state": state}
            )
        if target_dom is not None:
            if target_dom.isActive():
                raise JobFailed(
                    _t("%(host)s already runs a domain with this VM's UUID; nothing was moved.") % {"host": target.name}
                )
            domains.undefine(target_dom)  # an offline move's definition from an attempt that did not finish
        transfers = plan(domains.saved_xml(source_dom), source_conn, target_conn)
        for transfer in transfers:
            there = find_volume_at(target_conn, transfer.target_path)
            if transfer.writable or _is_seed(vm, transfer):
                if there is not None and not os.path.basename(transfer.target_path).startswith(f"{vm.uuid}-"):
                    raise JobFailed(
                        _t("%(host)s already has a file %(path)s; nothing was moved.")
                        % {"host": target.name, "path": transfer.target_path}
                    )
                if there is not None:
                    there.delete(0)  # this VM's own, left by an attempt that did not finish
            elif there is None:
                raise JobFailed(
                    _t(
                        "The ISO %(path)s in one of the VM's drives is not on %(host)s: copy it there from the "
                        "Images page, or eject it, and move the VM again."
                    )
                    % {"path": transfer.source_path, "host": target.name}
                )
        return transfers, state == VMState.RUNNING

    @staticmethod
    def _send_seed(ctx, vm, transfers: list[Transfer], source_conn, target_conn) -> None:  # noqa: ANN001
        seeds = [t for t in transfers if _is_seed(vm, t)]
        if not seeds:
            ctx.skip("seed", _t("The VM has no cloud-init seed."))
            return
        for seed in seeds:
            send_volume(source_conn, seed.source_path, target_conn, seed.pool, os.path.basename(seed.target_path))

    @staticmethod
    def _migrate(ctx, vm, target: Host, source_dom, target_conn, mapping: dict, listen: str):  # noqa: ANN001, ANN205
        flags = libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_MIGRATABLE
        try:
            dest_xml = moved_domain(source_dom.XMLDesc(flags), mapping, listen).to_xml()
            persist_xml = moved_domain(
                source_dom.XMLDesc(flags | libvirt.VIR_DOMAIN_XML_INACTIVE), mapping, listen
            ).to_xml()
        except (DomainXMLError, ValueError) as exc:
            raise JobFailed(
                _t("The VM's XML could not be prepared for %(host)s: %(why)s") % {"host": target.name, "why": exc}
            ) from exc

        def cancelled() -> bool:
            try:
                ctx.check_cancelled()
            except JobCancelled:
                return True
            return False

        try:
            result = migrate_live(
                source_dom,
                target_conn,
                target_uri=target.uri,
                dest_xml=dest_xml,
                persist_xml=persist_xml,
                on_progress=_reporter(ctx),
                should_cancel=cancelled,
            )
        except MigrationCancelled:
            raise JobCancelled() from None
        pause = (
            _t("the guest was paused for %(ms)d ms") % {"ms": result.downtime_ms}
            if result.downtime_ms is not None
            else _t("libvirt did not say how long the guest was paused")
        )
        ctx.log(_t("Moved live in %(s).1f s; %(pause)s.") % {"s": result.seconds, "pause": pause})
        return result.domain

    @staticmethod
    def _copy_disks(ctx, vm, transfers: list[Transfer], source_conn, target_conn) -> None:  # noqa: ANN001
        disks = [t for t in transfers if t.writable]
        for index, disk in enumerate(disks):
            share = 1 / len(disks)

            def sent(done: int, total: int, index: int = index, share: float = share) -> None:
                ctx.progress(index * share + share * (done / total if total else 1.0))

            # A standalone copy next to the disk first: a qcow2 overlay names its base by a path of this host.
            temp = os.path.basename(_temp_copy_path(vm, disk, index))
            local = copy_volume(source_conn, disk.source_path, disk.pool, temp, disk.fmt)
            try:
                send_volume(source_conn, local, target_conn, disk.pool, os.path.basename(disk.target_path), sent)
            finally:
                delete_volume_at(source_conn, local)
            ctx.log(_t("Disk %(path)s copied.") % {"path": disk.target_path})

    @staticmethod
    def _define(ctx, vm, target: Host, source_dom, target_conn, mapping: dict, listen: str):  # noqa: ANN001, ANN205
        try:
            adapted = adapt_to_connection(
                moved_domain(domains.saved_xml(source_dom), mapping, listen), target_conn, virt_types=target.virt_types
            )
        except (DomainXMLError, ValueError) as exc:
            raise JobFailed(_t("The VM cannot run on %(host)s: %(why)s") % {"host": target.name, "why": exc}) from exc
        for sentence in adapted.adjustments:
            ctx.log(sentence)
        return domains.define(target_conn, adapted.xml, vm.name)

    def on_failure(self, ctx) -> None:
        """Where the VM is decides: moved (record it) or not (remove what the new host got)."""
        pk = parse_target(ctx.job.target)[1]
        vm = VirtualMachine.objects.select_related("host", "template", "moving_to").filter(pk=pk).first()
        if vm is None or vm.moving_to_id is None:
            return
        target = vm.moving_to
        uuid = str(vm.uuid)
        # Files on the new host that are not named from the VM were there before the job only if it
        # stopped while checking (the check refuses to overwrite them): then they are not ours to remove.
        made_any = ctx.job.current_step not in ("", "check")
        try:
            with host_errors(), connection(vm.host.uri) as source_conn, connection(target.uri) as target_conn:
                source_dom = domains.find_by_uuid(source_conn, uuid)
                target_dom = domains.find_by_uuid(target_conn, uuid)
                if source_dom is None and target_dom is not None:
                    _moved(vm, target, target_dom)
                    _clear_old_host(vm, target_dom, source_conn, target_conn)
                    ctx.log(_t("The VM had moved to %(host)s before the failure; recorded.") % {"host": target.name})
                    return
                if source_dom is None:
                    return
                if target_dom is not None and not target_dom.isActive():
                    domains.undefine(target_dom)
                disks = 0
                for transfer in plan(domains.saved_xml(source_dom), source_conn, target_conn):
                    ours = os.path.basename(transfer.target_path).startswith(f"{uuid}-")
                    if (transfer.writable or _is_seed(vm, transfer)) and (ours or made_any):
                        delete_volume_at(target_conn, transfer.target_path)
                    if transfer.writable:
                        temp = _temp_copy_path(vm, transfer, disks)
                        delete_volume_at(source_conn, temp)
                        disks += 1
        finally:
            VirtualMachine.objects.filter(pk=vm.pk).update(moving_to=None)
