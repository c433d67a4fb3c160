"""The jobs that change a VM's persistent config as a whole: boot order, kernel boot, the domain XML.

Each reads the persistent config with its secrets (vms.hypervisor.domain_config), changes it through
the domain XML engine and defines it again with libvirt's validation; a running VM keeps running as
it is and boots the new config next time. A refused define changes nothing on the host.
"""

from __future__ import annotations

from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from jobs.errors import JobFailed
from jobs.registry import register
from vms.choices import VMChange
from vms.domainxml import Domain, DomainXMLError
from vms.domainxml.boot import set_boot_order, set_kernel
from vms.domainxml.edit import identity_problems, keep_display_passwords
from vms.hypervisor import domains
from vms.hypervisor.domain_config import persistent_xml, redefine
from vms.runners.changes import ChangeRunner
from vms.services import vm_xml

NEXT_BOOT = _("The VM is running: the change takes effect at its next boot (a shutdown and start).")


class ConfigRunner(ChangeRunner):
    steps = [("read", _("Read the saved configuration")), ("define", _("Define the new configuration"))]

    def edit(self, ctx, dom: Domain, vm) -> Domain:  # noqa: ANN001
        """The config to define: `dom` (the current one) changed, or a document of its own."""
        raise NotImplementedError

    def change(self, ctx, conn, dom, vm) -> None:  # noqa: ANN001
        with ctx.step("read"):
            current = persistent_xml(dom)
            config = Domain.from_xml(current)
            try:
                config = self.edit(ctx, config, vm)
            except DomainXMLError as exc:
                raise JobFailed(_t("The new configuration cannot be made: %(why)s.") % {"why": exc}) from exc
        with ctx.step("define"):
            redefine(conn, config.to_xml(), vm.name)
            ctx.log(_t("The new configuration is saved on %(host)s.") % {"host": vm.host.name})
            if domains.state_of(dom) != "stopped":
                ctx.log(str(NEXT_BOOT))
            self.after_define(ctx, vm, current, domains.saved_xml(dom))

    def after_define(self, ctx, vm, before: str, saved: str) -> None:  # noqa: ANN001
        """What else to record once the host has the new config (`before`: what it had)."""


@register(f"vm.{VMChange.BOOT}")
class ChangeBootOrder(ConfigRunner):
    label = _("Change the boot order")

    def edit(self, ctx, dom: Domain, vm) -> Domain:  # noqa: ANN001
        if dom.os.kernel:
            raise JobFailed(_t("This VM boots a kernel directly, so it has no boot order."))
        set_boot_order(dom, ctx.params["order"], ctx.params.get("menu", False))
        ctx.log(
            _t("Boot order: %(order)s; boot menu %(menu)s.")
            % {"order": ", ".join(ctx.params["order"]), "menu": _t("on") if ctx.params.get("menu") else _t("off")}
        )
        return dom


@register(f"vm.{VMChange.KERNEL}")
class ChangeKernel(ConfigRunner):
    label = _("Change the kernel boot")

    def edit(self, ctx, dom: Domain, vm) -> Domain:  # noqa: ANN001
        if not dom.os.kernel:
            raise JobFailed(_t("This VM boots from its boot order, not from a kernel."))
        set_kernel(dom, ctx.params["kernel"], ctx.params.get("initrd", ""), ctx.params.get("cmdline", ""))
        return dom


@register(f"vm.{VMChange.DOMAIN_XML}")
class EditDomainXML(ConfigRunner):
    label = _("Change the domain XML")

    def edit(self, ctx, dom: Domain, vm) -> Domain:  # noqa: ANN001
        edited = Domain.from_xml(ctx.params["xml"])
        # Checked when queued; checked again here, because what is defined is what counts.
        if identity_problems(edited, str(vm.uuid), vm.name):
            raise JobFailed(_t("The edited XML names another VM (its UUID or name differ); nothing was changed."))
        keep_display_passwords(edited, dom)
        return edited

    def after_define(self, ctx, vm, before: str, saved: str) -> None:  # noqa: ANN001
        vm_xml.record_before_first_edit(vm, before)
        version = vm_xml.record_applied(vm, saved, ctx.job.requested_by, ctx.params.get("note", ""))
        ctx.log(_t("Saved as version %(n)s.") % {"n": version.version})
