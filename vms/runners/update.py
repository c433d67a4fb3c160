"""The `vm.update` job: vCPUs and memory, the name and autostart of a VM, as vms/services/vm_update.py
asked. Each step is skipped when its part was not asked for. Sizes go live where the running domain
allows and always into the persistent config; what must wait for the next boot is said in the log and
kept in the job's params (`next_boot`), from which the VM's page says so.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from jobs.errors import JobFailed
from jobs.models import Job
from jobs.registry import register
from vms.hypervisor import resize
from vms.models import VirtualMachine
from vms.runners.changes import ChangeRunner
from vms.runners.vm import load_vm
from vms.services import vm_update

NOT_ASKED = _("Not asked for.")


def _sentence(vm: VirtualMachine, outcome: resize.Outcome, running: bool) -> str:
    what = (
        ngettext("%(n)s vCPU", "%(n)s vCPUs", outcome.value) % {"n": outcome.value}
        if outcome.what == "vcpus"
        else _t("%(n)s MiB of memory") % {"n": outcome.value}
    )
    if outcome.live:
        return _t("%(what)s: changed live and saved.") % {"what": what}
    if outcome.next_boot:
        return _t("%(what)s: saved; takes effect at next boot (%(why)s).") % {"what": what, "why": outcome.why}
    return _t("%(what)s: saved in the configuration.") % {"what": what}


@register("vm.update")
class UpdateVM(ChangeRunner):
    label = _("Change settings")
    steps = [
        ("size", _("vCPUs and memory")),
        ("name", _("Rename")),
        ("autostart", _("Autostart")),
    ]

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:  # noqa: ANN001
        params = ctx.params
        self.kept: set[str] = set()
        if "vcpus" in params or "memory_mib" in params:
            with ctx.step("size"):
                self._resize(ctx, dom, vm, params)
        else:
            ctx.skip("size", NOT_ASKED)
        if "name" in params:
            with ctx.step("name"):
                self._rename(ctx, dom, vm, params["name"])
        else:
            ctx.skip("name", NOT_ASKED)
        if "autostart" in params:
            with ctx.step("autostart"):
                resize.set_autostart(dom, bool(params["autostart"]))
                vm_update.record_done(vm, autostart=bool(params["autostart"]))
                ctx.log(_t("Starts with its host.") if params["autostart"] else _t("Does not start with its host."))
        else:
            ctx.skip("autostart", NOT_ASKED)

    def _resize(self, ctx, dom, vm: VirtualMachine, params: dict) -> None:  # noqa: ANN001
        try:
            vm_update.reserve_again(vm, params)  # a no-op but on a retry after a failure gave them back
        except ValidationError as exc:
            raise JobFailed("; ".join(exc.messages)) from None
        template = vm.template
        running = bool(dom.isActive())
        waiting = []
        for field in ("vcpus", "memory_mib"):
            if field not in params:
                continue
            result = resize.resize(
                dom,
                **{field: params[field]},
                live_max_vcpus=template.max_live_vcpus if template else 0,
                live_max_memory_mib=template.max_live_memory_mib if template else 0,
            )
            if result.waiting_for_boot and not dom.isPersistent():
                # A run-once VM has no next boot: what did not change live did not change at all.
                why = "; ".join(o.why for o in result.outcomes)
                raise JobFailed(
                    _t("A run-once VM changes only live, and the live change was refused: %(why)s") % {"why": why}
                )
            self.kept.add(field)
            for outcome in result.outcomes:
                ctx.log(_sentence(vm, outcome, running))
            waiting += result.waiting_for_boot
        # Kept with the job: the page says "pending for next boot" until the VM starts again.
        Job.objects.filter(pk=ctx.job.pk).update(params={**params, "next_boot": waiting})
        ctx.job.params["next_boot"] = waiting

    def _rename(self, ctx, dom, vm: VirtualMachine, name: str) -> None:  # noqa: ANN001
        try:
            vm_update.record_done(vm, name=name)
        except IntegrityError:
            raise JobFailed(_t("A VM named '%(name)s' already exists on this host.") % {"name": name}) from None
        try:
            resize.rename(dom, name)
        except Exception:
            vm_update.record_done(vm, name=ctx.params.get("was", {}).get("name", vm.name))
            raise
        ctx.log(_t("Renamed to '%(name)s'.") % {"name": name})

    def check_retry(self, job, user) -> None:
        vm_update.check_retry(user, job)

    def on_failure(self, ctx) -> None:
        vm_update.give_back(load_vm(ctx.job), ctx.params, getattr(self, "kept", set()))
