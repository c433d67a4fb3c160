"""The clone job (`vm.clone`, a change of the source VM; vms/services/clones.py queues it).

Steps: copy every disk (on the same host, libvirt copies in its pool; to another host, a standalone
copy is made next to the source first, because a qcow2 overlay names its base by a path of the
source's host, and that copy is streamed through the two libvirt connections, then removed), the
clone's own cloud-init seed, define the clone from the source's saved XML (vms/domainxml/clone.py),
start it. Every volume made is named from the clone's UUID: a failed job removes them all, on both
hosts, and marks the clone failed; the source is never changed.
"""

from __future__ import annotations

from contextlib import ExitStack

from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from jobs.context import JobCancelled
from jobs.errors import JobFailed, RetryRefused
from jobs.registry import register
from jobs.targets import parse_target
from vms.choices import VMChange, VMState
from vms.domainxml.clone import CloneSpec, clone_domain, copied_disks, inserted_media, seed_volume_name
from vms.domainxml.errors import DomainXMLError
from vms.domainxml.hostcaps import adapt_to_connection
from vms.hypervisor import domains
from vms.hypervisor.backups import copy_running_disks
from vms.hypervisor.connection import connection
from vms.hypervisor.errors import HypervisorError
from vms.hypervisor.graphics import listen_address_for
from vms.hypervisor.resize import set_autostart
from vms.hypervisor.storage import refresh_named_pool
from vms.hypervisor.volumes import (
    copy_volume,
    delete_volume_at,
    delete_volumes_of,
    disk_volume_name,
    pool_name_of,
    pool_path,
    send_volume,
)
from vms.models import VirtualMachine
from vms.runners.errors import host_errors
from vms.runners.vm import (
    POOL,
    PROVISION_CLEANUP_STATES,
    ProvisionVM,
    VMRunner,
    load_vm,
    on_host,
    remember_saved_xml,
    remove_from_host,
    still_provisioning,
    wait_until_running,
)
from vms.services.placement import pool_of
from vms.services.state import set_state, vm_groups


def source_pk(job) -> str:  # noqa: ANN001
    return parse_target(job.target)[1]


def _clone_of(job) -> VirtualMachine | None:  # noqa: ANN001
    pk = job.params.get("clone")
    return VirtualMachine.objects.select_related("host", "template", "owner").filter(pk=pk).first() if pk else None


@register(f"vm.{VMChange.CLONE}")
class CloneVM(VMRunner):
    label = _("Clone")
    steps = [
        ("copy", _("Copy the disks")),
        ("seed", _("Cloud-init seed")),
        ("define", _("Define the clone")),
        ("start", _("Start")),
        ("wait", _("Wait until running")),
    ]

    def groups(self, job) -> list[str]:
        clone = _clone_of(job)
        return super().groups(job) + (vm_groups(clone) if clone else [])

    def check_retry(self, job, user) -> None:
        raise RetryRefused(_t("Clone the VM again from its page: the name and the host are checked anew there."))

    def run(self, ctx) -> None:
        source = load_vm(ctx.job)
        clone = _clone_of(ctx.job)
        if clone is None:
            raise JobFailed(_t("The clone of this job no longer exists."))
        still_provisioning(clone)
        target = clone.host
        same_host = target.pk == source.host_id
        with on_host(ctx, source) as source_conn, ExitStack() as stack:
            source_dom = domains.find_by_uuid(source_conn, str(source.uuid))
            if source_dom is None:
                raise JobFailed(
                    _t("VM '%(name)s' is not defined on %(host)s any more.")
                    % {"name": source.name, "host": source.host.name}
                )
            state = domains.state_of(source_dom)
            if state not in (VMState.STOPPED, VMState.CRASHED, VMState.RUNNING):
                raise JobFailed(
                    _t("VM '%(name)s' is %(state)s: it is cloned running or stopped.")
                    % {"name": source.name, "state": state}
                )
            source_xml = domains.saved_xml(source_dom)
            if same_host:
                target_conn = source_conn
            else:
                target_conn = stack.enter_context(connection(target.uri))

            with ctx.step("copy"):
                if state == VMState.RUNNING:
                    paths = self._copy_running_disks(
                        ctx, source_dom, source_xml, clone, source_conn, target_conn, same_host
                    )
                else:
                    paths = self._copy_disks(ctx, source_xml, clone, source_conn, target_conn, same_host)
            seed_path = None
            if f"/{seed_volume_name(str(source.uuid))}" in source_xml:
                with ctx.step("seed"):
                    seed_path = ProvisionVM._upload_seed(target_conn, clone, [])
                    ctx.log(_t("The clone has its own cloud-init seed: a new instance id and hostname."))
            else:
                ctx.skip("seed", _t("The VM has no cloud-init seed."))
            with ctx.step("define"):
                spec = CloneSpec(
                    uuid=str(clone.uuid),
                    name=clone.name,
                    owner=clone.owner.get_username() if clone.owner else "",
                    disk_paths=paths,
                    seed_iso_path=seed_path,
                    keep_media=same_host,
                    display_listen=listen_address_for(target.uri),
                )
                try:
                    adapted = adapt_to_connection(
                        clone_domain(source_xml, spec), target_conn, virt_types=target.virt_types
                    )
                except (DomainXMLError, ValueError) as exc:
                    raise JobFailed(
                        _t("The copy cannot run on %(host)s: %(why)s") % {"host": target.name, "why": exc}
                    ) from exc
                for sentence in adapted.adjustments:
                    ctx.log(sentence)
                if not same_host and inserted_media(source_xml):
                    ctx.log(
                        _t("CD-ROM media stay on %(host)s: the clone's drives are empty.") % {"host": source.host.name}
                    )
                still_provisioning(clone)
                dom = domains.define(target_conn, adapted.xml, clone.name)
                if clone.autostart:
                    set_autostart(dom, True)  # as its source: it starts with its host
                remember_saved_xml(clone, dom)
            with ctx.step("start"):
                still_provisioning(clone)
                domains.start(dom)
            with ctx.step("wait"):
                wait_until_running(dom, clone)
        if not set_state(clone, VMState.RUNNING, expected=[VMState.PROVISIONING]):
            clone.refresh_from_db(fields=["state"])
            raise JobFailed(_t("The clone '%(name)s' was deleted meanwhile.") % {"name": clone.name})
        ctx.log(_t("VM '%(name)s' is running on %(host)s.") % {"name": clone.name, "host": target.name})

    @staticmethod
    def _copy_disks(ctx, source_xml: str, clone: VirtualMachine, source_conn, target_conn, same_host: bool) -> dict:  # noqa: ANN001
        """Each source disk copied as the clone's disk<i>; returns {target dev: path on the clone's host}."""
        try:
            disks = copied_disks(source_xml)
        except (DomainXMLError, ValueError) as exc:
            raise JobFailed(_t("The VM cannot be cloned: %(why)s.") % {"why": exc}) from exc
        pool = pool_of(clone.template)
        paths = {}
        for index, disk in enumerate(disks):
            name = disk_volume_name(str(clone.uuid), index, disk["format"])
            share = 1 / len(disks)

            def sent(done: int, total: int, index: int = index, share: float = share) -> None:
                ctx.progress(index * share + share * (done / total if total else 1.0))

            if same_host:
                paths[disk["target"]] = copy_volume(source_conn, disk["path"], pool, name, disk["format"])
            else:
                # A standalone copy next to the source (its base read through), then its bytes sent.
                source_pool = pool_name_of(source_conn, disk["path"])
                local = copy_volume(source_conn, disk["path"], source_pool, name, disk["format"])
                paths[disk["target"]] = send_volume(source_conn, local, target_conn, pool, name, sent)
                delete_volumes_of(source_conn, source_pool, str(clone.uuid))
            ctx.progress((index + 1) * share)
            ctx.log(_t("Disk %(target)s copied as %(name)s.") % {"target": disk["target"], "name": name})
        return paths

    @staticmethod
    def _copy_running_disks(
        ctx, source_dom, source_xml: str, clone: VirtualMachine, source_conn, target_conn, same_host: bool
    ) -> dict:  # noqa: ANN001
        """Every disk of the running source as of one moment (vms/hypervisor/backups.py: one job for all
        of them, so that they agree with each other), made as the clone's disk<i> in the clone's pool on
        the same host, or next to the source and then sent; returns {target dev: path on the clone's host}."""
        try:
            disks = copied_disks(source_xml)
        except (DomainXMLError, ValueError) as exc:
            raise JobFailed(_t("The VM cannot be cloned: %(why)s.") % {"why": exc}) from exc
        pool = pool_of(clone.template)
        planned = {}  # target dev -> (pool on the source's host, volume name, format)
        for index, disk in enumerate(disks):
            name = disk_volume_name(str(clone.uuid), index, disk["format"])
            planned[disk["target"]] = (
                pool if same_host else pool_name_of(source_conn, disk["path"]),
                name,
                disk["format"],
            )
        copies = {}
        for dev, (in_pool, name, fmt) in planned.items():
            refresh_named_pool(source_conn, in_pool)  # a file an earlier attempt left is a volume to delete
            path = f"{pool_path(source_conn, in_pool)}/{name}"
            delete_volume_at(source_conn, path)
            copies[dev] = (path, fmt)
        share = 1.0 if same_host else 0.5
        cancelled = []

        def should_cancel() -> bool:
            try:
                ctx.check_cancelled()
            except JobCancelled:
                cancelled.append(True)
                return True
            return False

        try:
            copy_running_disks(source_dom, copies, lambda f: ctx.progress(f * share), should_cancel)
        except HypervisorError:
            if cancelled:
                raise JobCancelled() from None
            raise
        for in_pool in {p for p, _n, _f in planned.values()}:
            refresh_named_pool(source_conn, in_pool)
        ctx.log(_t("The disks of the running VM were copied as they were at one moment."))
        if same_host:
            return {dev: path for dev, (path, _fmt) in copies.items()}
        paths = {}
        for index, (dev, (path, _fmt)) in enumerate(copies.items()):
            part = 0.5 / len(copies)

            def sent(done: int, total: int, index: int = index, part: float = part) -> None:
                ctx.progress(0.5 + index * part + part * (done / total if total else 1.0))

            paths[dev] = send_volume(source_conn, path, target_conn, pool, planned[dev][1], sent)
            delete_volume_at(source_conn, path)
            ctx.log(_t("Disk %(target)s copied as %(name)s.") % {"target": dev, "name": planned[dev][1]})
        return paths

    def on_failure(self, ctx) -> None:
        """Remove the clone's volumes (both hosts) and domain, and mark it failed; the source is untouched."""
        clone = _clone_of(ctx.job)
        if clone is None or clone.state not in PROVISION_CLEANUP_STATES:
            return
        source = VirtualMachine.objects.select_related("host", "template").filter(pk=source_pk(ctx.job)).first()
        pools = list(dict.fromkeys([POOL, pool_of(source.template if source else None), pool_of(clone.template)]))
        try:
            if source is not None and source.host_id != clone.host_id:
                # The standalone copies made next to the source on their way.
                with host_errors(), connection(source.host.uri) as conn:
                    for pool in pools:
                        refresh_named_pool(conn, pool)  # a running VM's copy is a file QEMU made
                        delete_volumes_of(conn, pool, str(clone.uuid))
            with host_errors(), connection(clone.host.uri) as conn:
                for pool in pools:
                    refresh_named_pool(conn, pool)
            remove_from_host(clone)
        finally:
            set_state(clone, VMState.FAILED, expected=[VMState.PENDING, VMState.PROVISIONING])
