"""The NIC change jobs: add an interface, remove one, set a link up or down (vms/services/interfaces.py
says who may and with what; vms/hypervisor/nics.py talks to libvirt).

Each job converges: an add whose NIC is already there (a retried job) does nothing more; a remove of a
NIC already gone is done. Afterwards the fleet's MAC registry follows the domain's saved XML, so a
failed add frees the MAC it had reserved and a remove frees the MAC it removed.
"""

from __future__ import annotations

from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from jobs.choices import LogLevel
from jobs.registry import register
from vms.hypervisor import nics
from vms.models import VirtualMachine
from vms.runners.changes import ChangeRunner
from vms.runners.vm import load_vm
from vms.services.interfaces import sync_macs


class NicRunner(ChangeRunner):
    def run(self, ctx) -> None:
        super().run(ctx)
        self._sync(ctx)

    def on_failure(self, ctx) -> None:
        self._sync(ctx)

    @staticmethod
    def _sync(ctx) -> None:
        vm = load_vm(ctx.job)
        sync_macs(VirtualMachine.objects.get(pk=vm.pk))


def _where(vm: VirtualMachine) -> dict:
    return {"name": vm.name, "host": vm.host.name}


@register("vm.interface-add")
class AddInterface(NicRunner):
    label = _("Add a network interface")
    steps = [("attach", _("Attach the interface"))]

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:  # noqa: ANN001
        p = ctx.params
        mac = p["mac"]
        with ctx.step("attach"):
            if mac in nics.macs_on(dom):
                ctx.log(_t("The interface %(mac)s is already there.") % {"mac": mac})
                return
            xml = nics.interface_xml(mac, p["model"], network=p.get("network", ""), bridge=p.get("bridge", ""))
            applied, refusal = nics.attach(dom, xml, mac)
            where = p.get("network") or p.get("bridge")
            if applied.live:
                ctx.log(_t("Interface %(mac)s (%(model)s) on %(where)s is plugged in.") % {**p, "where": where})
            elif refusal:
                ctx.log(
                    _t(
                        "The running VM did not take interface %(mac)s live (%(why)s); it is saved and appears "
                        "at the next boot."
                    )
                    % {"mac": mac, "why": refusal},
                    LogLevel.WARNING,
                )
            else:
                ctx.log(_t("Interface %(mac)s is saved; the VM has it from its next start.") % {"mac": mac})


@register("vm.interface-remove")
class RemoveInterface(NicRunner):
    label = _("Remove a network interface")
    steps = [("detach", _("Detach the interface"))]

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:  # noqa: ANN001
        mac = ctx.params["mac"]
        with ctx.step("detach"):
            if mac not in nics.macs_on(dom):
                ctx.log(_t("The interface %(mac)s is already gone.") % {"mac": mac})
                return
            applied, reason = nics.detach(dom, mac)
            if reason:
                ctx.log(
                    _t(
                        "The running VM keeps interface %(mac)s until it stops (%(why)s); it is gone from the "
                        "saved configuration."
                    )
                    % {"mac": mac, "why": reason},
                    LogLevel.WARNING,
                )
            else:
                ctx.log(_t("Interface %(mac)s is removed.") % {"mac": mac})


@register("vm.interface-link")
class SetInterfaceLink(NicRunner):
    label = _("Set a link up or down")
    steps = [("link", _("Set the link state"))]

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:  # noqa: ANN001
        mac, up = ctx.params["mac"], bool(ctx.params["up"])
        with ctx.step("link"):
            applied = nics.set_link(dom, mac, up)
            state = _t("up") if up else _t("down")
            if applied.live:
                ctx.log(_t("The link of %(mac)s is %(state)s.") % {"mac": mac, "state": state})
            else:
                ctx.log(_t("The link of %(mac)s is %(state)s from the next start.") % {"mac": mac, "state": state})
