"""VM job runners on top of the generic job framework. Every step converges: it looks for what
an earlier attempt made (volumes named from the VM UUID, the domain by UUID) before making it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from jobs.errors import JobFailed, RetryableError
from jobs.registry import Runner, register
from jobs.targets import parse_target
from vms.choices import ACTION_RESULT, DiskSource, VMAction, VMState
from vms.cloudinit import SeedError, build_seed_iso
from vms.domainxml.errors import DomainXMLError
from vms.domainxml.hostcaps import adapt_to_connection
from vms.domainxml.vm import VMSpec, build_vm_domain, without_display_passwords
from vms.hypervisor import domains
from vms.hypervisor.connection import connection
from vms.hypervisor.graphics import listen_address_for
from vms.hypervisor.resize import set_autostart
from vms.hypervisor.storage import upload_file
from vms.hypervisor.volumes import delete_volumes_of, disk_volume_name, ensure_disk
from vms.models import VirtualMachine, VMSnapshot
from vms.runners.errors import host_errors
from vms.services import actions, run_once
from vms.services.host_slots import HostBusy, host_slot
from vms.services.images import base_image_format
from vms.services.interfaces import sync_macs
from vms.services.placement import pool_of
from vms.services.state import set_state, vm_groups
from vms.services.template_preview import volume_notes

POOL = "default"
START_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 60.0
# A lifecycle job records its result over any state but these: a VM being deleted, or deleted, stays so.
ACTION_TARGET_STATES = [s for s in VMState.values if s not in (VMState.DELETING, VMState.DELETED)]


def load_vm(job) -> VirtualMachine:
    _label, pk = parse_target(job.target)
    vm = VirtualMachine.objects.select_related("host", "template", "owner").filter(pk=pk).first()
    if vm is None:
        raise JobFailed(_("The VM of this job no longer exists."))
    return vm


@contextmanager
def on_host(ctx, vm: VirtualMachine) -> Iterator[object]:
    """A slot on the VM's host (its concurrency limit) and a pooled connection, errors as outcomes."""
    try:
        with host_slot(vm.host_id, f"job:{ctx.job.pk}", vm.host.max_concurrent_jobs):
            with host_errors(), connection(vm.host.uri) as conn:
                yield conn
    except HostBusy as exc:
        raise RetryableError(_t("Host %(host)s is busy: %(why)s.") % {"host": vm.host.name, "why": exc}) from exc


class VMRunner(Runner):
    exclusive = True  # one job at a time per VM

    def groups(self, job) -> list[str]:
        try:
            return vm_groups(load_vm(job))
        except JobFailed:
            return []

    def check_retry(self, job, user) -> None:
        """A retry is a new action on the VM: the same checks (permission, state, template, host)."""
        actions.check_retry(user, job)

    def record_retry(self, job, user, refusal) -> None:
        actions.record_retry(user, job, refusal)


# A provision owns the VM in these states; in any other (it was deleted, or another job made it run)
# it must neither go on nor touch the host.
PROVISIONING_FROM = [VMState.PENDING, VMState.PROVISIONING, VMState.FAILED]
# What a failed provision may clean up after: its own VM, or one that was deleted under it.
PROVISION_CLEANUP_STATES = {VMState.PENDING, VMState.PROVISIONING, VMState.FAILED, VMState.DELETING, VMState.DELETED}


def _left_provisioning(vm: VirtualMachine, state: str | None) -> JobFailed:
    shown = VMState(state).label.lower() if state in VMState.values else _t("gone")
    return JobFailed(
        _t("VM '%(name)s' is %(state)s now, so this job stops without creating it.") % {"name": vm.name, "state": shown}
    )


def still_provisioning(vm: VirtualMachine) -> None:
    """Stop (the job fails and cleans up) if the VM left provisioning meanwhile, e.g. it was deleted."""
    state = VirtualMachine.objects.filter(pk=vm.pk).values_list("state", flat=True).first()
    if state != VMState.PROVISIONING:
        raise _left_provisioning(vm, state)


@register("vm.provision")
class ProvisionVM(VMRunner):
    label = _("Create VM")
    steps = [
        ("disks", _("Create disks")),
        ("seed", _("Cloud-init seed")),
        ("define", _("Define the domain")),
        ("start", _("Start")),
        ("wait", _("Wait until running")),
    ]

    def run(self, ctx) -> None:
        vm = load_vm(ctx.job)
        template = vm.template
        if template is None:
            raise JobFailed(_("The VM's template was deleted; it cannot be created."))
        if not set_state(vm, VMState.PROVISIONING, expected=PROVISIONING_FROM):
            vm.refresh_from_db(fields=["state"])
            raise _left_provisioning(vm, vm.state)
        with on_host(ctx, vm) as conn:
            with ctx.step("disks"):
                disk_path = None
                if template.disk_source != DiskSource.NONE:
                    name = disk_volume_name(str(vm.uuid), 0, template.disk_format)
                    disk_path = ensure_disk(
                        conn,
                        pool_of(template),  # the template's pool; placement checked its free space
                        name,
                        vm.disk_gib,
                        template.disk_format,
                        base_volume=template.base_image or None,
                        full_copy=template.disk_source == DiskSource.COPY,
                        base_format=base_image_format(template.base_image),
                        base_pool=POOL,  # base images are copied to the default pool
                    )
                    ctx.log(_t("Disk %(name)s is ready.") % {"name": name})
            seed_path = None
            if template.cloud_init:
                with ctx.step("seed"):
                    seed_path = self._upload_seed(conn, vm, ctx.params.get("ssh_keys", []))
            else:
                ctx.skip("seed", _("The template does not use cloud-init."))
            with ctx.step("define"):
                spec = VMSpec(
                    str(vm.uuid),
                    vm.name,
                    vm.vcpus,
                    vm.memory_mib,
                    disk_path,
                    template.disk_format,
                    vm.owner.get_username() if vm.owner else "",
                    seed_path,
                    display_listen=listen_address_for(vm.host.uri),  # where the console relay may connect
                    max_live_vcpus=template.max_live_vcpus,
                    max_live_memory_mib=template.max_live_memory_mib,
                )
                try:
                    dom = build_vm_domain(template.domain_xml, spec)
                    for sentence in volume_notes(dom, conn):
                        ctx.log(sentence)
                    adapted = adapt_to_connection(dom, conn, virt_types=vm.host.virt_types)
                except (DomainXMLError, ValueError) as exc:
                    raise JobFailed(
                        _t("The template cannot run on %(host)s: %(why)s") % {"host": vm.host.name, "why": exc}
                    ) from exc
                for sentence in adapted.adjustments:
                    ctx.log(sentence)
                if vm.run_once:
                    # Nothing is defined: the start step creates the domain and boots it in one call.
                    ctx.log(_t("A run-once VM is never defined on its host: it is created running."))
                    VirtualMachine.objects.filter(pk=vm.pk).update(domain_xml=without_display_passwords(adapted.xml))
                else:
                    dom = domains.define(conn, adapted.xml, vm.name)
                    if vm.autostart:
                        set_autostart(dom, True)  # the template says its VMs start with their host
                    remember_saved_xml(vm, dom)
            with ctx.step("start"):
                still_provisioning(vm)  # never start the domain of a VM deleted meanwhile
                if vm.run_once:
                    dom = domains.create_transient(conn, adapted.xml, vm.name)
                    remember_saved_xml(vm, dom)  # the live XML: libvirt gave each NIC its MAC only now
                    host = vm.host.name
                    ctx.log(_t("Created transient: the VM is gone from %(host)s when it powers off.") % {"host": host})
                else:
                    domains.start(dom)
            with ctx.step("wait"):
                wait_until_running(dom, vm)
        if not set_state(vm, VMState.RUNNING, expected=[VMState.PROVISIONING]):
            # Changed while the domain started (deleted): fail, and on_failure removes the domain.
            vm.refresh_from_db(fields=["state"])
            raise _left_provisioning(vm, vm.state)

    @staticmethod
    def _upload_seed(conn, vm: VirtualMachine, ssh_keys: list[str]) -> str:
        """A NoCloud seed ISO (hostname, SSH keys) in the VM's pool, named from its UUID."""
        try:
            iso = build_seed_iso(str(vm.uuid), vm.name, ssh_keys)
        except SeedError as exc:
            raise JobFailed(str(exc)) from exc
        with tempfile.NamedTemporaryFile(suffix=".iso") as fh:
            fh.write(iso)
            fh.flush()
            return upload_file(conn, POOL, f"{vm.uuid}-seed.iso", Path(fh.name)).path()

    def on_failure(self, ctx) -> None:
        """Remove what the job made and mark the VM failed; a VM that is no longer the job's is left alone."""
        vm = load_vm(ctx.job)
        if vm.state not in PROVISION_CLEANUP_STATES:
            return
        try:
            remove_from_host(vm)
        finally:
            # Failed even when the host could not be cleaned (the reaper removes leftovers of failed
            # VMs); never over a deleted VM.
            set_state(vm, VMState.FAILED, expected=[VMState.PENDING, VMState.PROVISIONING])


def wait_until_running(dom, vm: VirtualMachine) -> None:  # noqa: ANN001
    """A new VM's last step: the domain runs within START_TIMEOUT, or the job fails (and cleans up)."""
    if not domains.wait_for_state(dom, "running", START_TIMEOUT):
        raise JobFailed(
            _t("VM '%(name)s' did not reach running within %(s)d s.") % {"name": vm.name, "s": START_TIMEOUT}
        )


def remember_saved_xml(vm: VirtualMachine, dom) -> None:  # noqa: ANN001
    """What the host keeps (libvirt gave each NIC its MAC), and those MACs in the fleet's registry."""
    saved = without_display_passwords(domains.saved_xml(dom))
    VirtualMachine.objects.filter(pk=vm.pk).update(domain_xml=saved)
    sync_macs(vm, saved)


def delete_vm_volumes(conn, vm: VirtualMachine) -> list[str]:  # noqa: ANN001
    """The VM's volumes (named from its UUID) in the default pool (its seed) and its template's pool (its disk).

    A disk left in another pool (the template named a different pool since) is found by the reaper,
    which looks in every pool.
    """
    removed = []
    # Detached volumes the owner kept are named from the UUID too, but may sit in a pool the
    # template no longer names: their pools are searched as well.
    kept_pools = [v.get("pool") for v in vm.detached_volumes or [] if v.get("pool")]
    for pool_name in dict.fromkeys([POOL, pool_of(vm.template), *kept_pools]):
        removed += delete_volumes_of(conn, pool_name, str(vm.uuid))
    return removed


def remove_from_host(vm: VirtualMachine) -> list[str]:
    """Stop and undefine the VM's domain and delete its volumes; what is already gone is fine."""
    with host_errors(), connection(vm.host.uri) as conn:
        dom = domains.find_by_uuid(conn, str(vm.uuid))
        if dom is not None:
            domains.force_off(dom)
            domains.undefine(dom)
        return delete_vm_volumes(conn, vm)


@register("vm.delete")
class DeleteVM(VMRunner):
    label = _("Delete")
    steps = [("stop", _("Stop")), ("undefine", _("Undefine")), ("volumes", _("Remove disks"))]

    def run(self, ctx) -> None:
        vm = load_vm(ctx.job)
        remove_storage = vm.managed or ctx.params.get("remove_from_host", False)
        if not remove_storage:
            for step in ("stop", "undefine", "volumes"):
                ctx.skip(step, _("A discovered VM is only forgotten; the domain stays on its host."))
            set_state(vm, VMState.DELETED)
            return
        with on_host(ctx, vm) as conn:
            dom = domains.find_by_uuid(conn, str(vm.uuid))
            with ctx.step("stop"):
                if dom is not None:
                    domains.force_off(dom)
            with ctx.step("undefine"):
                if dom is not None:
                    domains.undefine(dom)
            with ctx.step("volumes"):
                for name in delete_vm_volumes(conn, vm):
                    ctx.log(_t("Removed disk %(name)s.") % {"name": name})
        # Internal snapshots lived in the volumes just removed (their metadata went with the domain:
        # UNDEFINE_SNAPSHOTS_METADATA); the VM row stays (deleted), so its snapshot rows go here.
        VMSnapshot.objects.filter(vm=vm).delete()
        set_state(vm, VMState.DELETED)

    def on_failure(self, ctx) -> None:
        """Out of `deleting` (a job-owned state): `unknown` until the watcher reports what the host has.

        The person may then delete it again, or retry this job.
        """
        set_state(load_vm(ctx.job), VMState.UNKNOWN, expected=[VMState.DELETING])


class LifecycleRunner(VMRunner):
    """One action on the domain, then a wait until libvirt reports the state it should lead to."""

    action: str = ""
    timeout = START_TIMEOUT

    def act(self, dom) -> None:
        raise NotImplementedError

    def run(self, ctx) -> None:
        vm = load_vm(ctx.job)
        wanted = ACTION_RESULT[self.action]
        with on_host(ctx, vm) as conn:
            dom = domains.find_by_uuid(conn, str(vm.uuid))
            if dom is None:
                raise JobFailed(
                    _t("VM '%(name)s' is not defined on %(host)s any more.") % {"name": vm.name, "host": vm.host.name}
                )
            with ctx.step("act"):
                self.act(dom)
            with ctx.step("confirm"):
                if not domains.wait_for_state(dom, wanted, self.timeout):
                    raise JobFailed(self.timeout_message(vm))
                if vm.run_once and wanted == VMState.STOPPED and domains.wait_until_gone(conn, str(vm.uuid), 5.0):
                    # Powered off, a run-once VM is gone from its host: it is deleted, not stopped.
                    run_once.domain_gone(vm, ctx.job.requested_by)
                    ctx.log(
                        _t("VM '%(name)s' ran once and is gone from %(host)s; its disks are removed by a job.")
                        % {"name": vm.name, "host": vm.host.name}
                    )
                    return
        if not set_state(vm, wanted, expected=ACTION_TARGET_STATES):
            vm.refresh_from_db(fields=["state"])
            raise JobFailed(
                _t("VM '%(name)s' is %(state)s now; its state was not changed.")
                % {"name": vm.name, "state": VMState(vm.state).label.lower()}
            )

    def timeout_message(self, vm) -> str:
        return _t("VM '%(name)s' did not become %(state)s within %(s)d s.") % {
            "name": vm.name,
            "state": VMState(ACTION_RESULT[self.action]).label,
            "s": self.timeout,
        }


def _shutdown_too_slow(vm) -> str:
    return _t(
        "VM '%(name)s' did not shut down within %(s)d s (its OS may ignore the ACPI power button); "
        "you can force it off."
    ) % {"name": vm.name, "s": SHUTDOWN_TIMEOUT}


def _steps(label) -> list:
    return [("act", label), ("confirm", _("Confirm the new state"))]


@register("vm.start")
class StartVM(LifecycleRunner):
    action, label, steps = VMAction.START, _("Start"), _steps(_("Start"))

    def act(self, dom) -> None:
        domains.start(dom)


@register("vm.shutdown")
class ShutdownVM(LifecycleRunner):
    action, label, steps = VMAction.SHUTDOWN, _("Shut down"), _steps(_("Shut down"))
    timeout = SHUTDOWN_TIMEOUT

    def act(self, dom) -> None:
        domains.shutdown(dom)

    def timeout_message(self, vm) -> str:
        return _shutdown_too_slow(vm)


@register("vm.reboot")
class RebootVM(LifecycleRunner):
    action, label, steps = VMAction.REBOOT, _("Reboot"), _steps(_("Reboot"))

    def act(self, dom) -> None:
        domains.reboot(dom)


@register("vm.force-off")
class ForceOffVM(LifecycleRunner):
    action, label, steps = VMAction.FORCE_OFF, _("Force off"), _steps(_("Force off"))

    def act(self, dom) -> None:
        domains.force_off(dom)


@register("vm.suspend")
class SuspendVM(LifecycleRunner):
    action, label, steps = VMAction.SUSPEND, _("Suspend"), _steps(_("Suspend"))

    def act(self, dom) -> None:
        domains.suspend(dom)


@register("vm.resume")
class ResumeVM(LifecycleRunner):
    action, label, steps = VMAction.RESUME, _("Resume"), _steps(_("Resume"))

    def act(self, dom) -> None:
        domains.resume(dom)
