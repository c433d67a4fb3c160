"""Snapshot jobs (take, revert, delete); after each, the VM's VMSnapshot rows are what libvirt lists."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from jobs.errors import JobFailed
from jobs.registry import register
from vms.choices import VMChange, VMState
from vms.hypervisor import domains
from vms.hypervisor import snapshots as host_snapshots
from vms.hypervisor.errors import HypervisorError
from vms.models import VirtualMachine, VMSnapshot
from vms.runners.changes import ChangeRunner
from vms.runners.vm import ACTION_TARGET_STATES
from vms.services import snapshots as snapshot_services
from vms.services.state import set_state


def sync_snapshots(vm: VirtualMachine, dom) -> None:  # noqa: ANN001
    """Rewrite the VM's VMSnapshot rows from the host's list (the pages read these rows)."""
    listed = host_snapshots.list_all(dom)
    with transaction.atomic():
        VMSnapshot.objects.filter(vm=vm).exclude(name__in=[s.name for s in listed]).delete()
        for snap in listed:
            VMSnapshot.objects.update_or_create(
                vm=vm,
                name=snap.name,
                defaults={
                    "description": snap.description,
                    "parent": snap.parent,
                    "state": snap.state,
                    "with_memory": snap.with_memory,
                    "current": snap.current,
                    "created_at": snap.created_at,
                },
            )


class SnapshotRunner(ChangeRunner):
    """The change, then the rows synced even when the change failed half-way."""

    def check_retry(self, job, user) -> None:
        snapshot_services.check_retry(user, job)

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:  # noqa: ANN001
        try:
            self.snapshot_change(ctx, dom, vm)
        except Exception:
            # A change that failed half-way may still have changed the list; the job's own error
            # is what the person must read, so a failing re-read is not allowed to hide it.
            try:
                sync_snapshots(vm, dom)
            except HypervisorError:
                pass
            raise
        with ctx.step("sync"):
            sync_snapshots(vm, dom)

    def snapshot_change(self, ctx, dom, vm: VirtualMachine) -> None:  # noqa: ANN001
        raise NotImplementedError


@register(f"vm.{VMChange.SNAPSHOT_CREATE}")
class CreateSnapshot(SnapshotRunner):
    label = _("Take a snapshot")
    steps = [("snapshot", _("Take the snapshot")), ("sync", _("Read the snapshot list"))]

    def snapshot_change(self, ctx, dom, vm: VirtualMachine) -> None:  # noqa: ANN001
        name = ctx.params["name"]
        with ctx.step("snapshot"):
            if name in {s.name for s in host_snapshots.list_all(dom)}:
                ctx.log(_t("Snapshot '%(name)s' already exists on the host.") % {"name": name})
                return  # a retried job whose first attempt got this far
            running = dom.isActive()
            try:
                host_snapshots.create(dom, name, ctx.params.get("description", ""))
            except host_snapshots.SnapshotsUnsupported as exc:
                raise JobFailed(str(exc)) from exc
            if running:
                ctx.log(_t("Snapshot '%(name)s' taken with the VM's memory.") % {"name": name})
            else:
                ctx.log(_t("Snapshot '%(name)s' taken of the disks (the VM is stopped).") % {"name": name})


@register(f"vm.{VMChange.SNAPSHOT_REVERT}")
class RevertSnapshot(SnapshotRunner):
    label = _("Revert to a snapshot")
    steps = [("revert", _("Revert")), ("sync", _("Read the snapshot list"))]

    def snapshot_change(self, ctx, dom, vm: VirtualMachine) -> None:  # noqa: ANN001
        name = ctx.params["name"]
        with ctx.step("revert"):
            host_snapshots.revert(dom, name)
            # The VM is now as the snapshot was: record what the host says it is.
            now = domains.state_of(dom)
            set_state(vm, now, expected=ACTION_TARGET_STATES)
            ctx.log(
                _t("Reverted to snapshot '%(name)s'; the VM is %(state)s.")
                % {"name": name, "state": VMState(now).label.lower() if now in VMState.values else now}
            )


@register(f"vm.{VMChange.SNAPSHOT_DELETE}")
class DeleteSnapshot(SnapshotRunner):
    label = _("Delete a snapshot")
    steps = [("delete", _("Delete")), ("sync", _("Read the snapshot list"))]

    def snapshot_change(self, ctx, dom, vm: VirtualMachine) -> None:  # noqa: ANN001
        name = ctx.params["name"]
        children = bool(ctx.params.get("children"))
        with ctx.step("delete"):
            if name not in {s.name for s in host_snapshots.list_all(dom)}:
                ctx.log(_t("Snapshot '%(name)s' is already gone from the host.") % {"name": name})
                return
            host_snapshots.delete(dom, name, children=children)
            if children:
                ctx.log(_t("Deleted snapshot '%(name)s' and the snapshots taken from it.") % {"name": name})
            else:
                ctx.log(_t("Deleted snapshot '%(name)s'.") % {"name": name})
