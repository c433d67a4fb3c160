"""The base of every change job (vms.choices.VMChange): one VM, its host, its domain, its saved XML.

A change runner's `change(ctx, conn, dom, vm)` does the work in its steps; the base finds the domain
(a VM whose domain is gone from its host fails with that sentence), and afterwards keeps the copy of
the domain XML in the database (`VirtualMachine.domain_xml`, what the pages read) equal to what the
host has: the persistent config of a defined domain, the live one of a run-once (transient) domain.
"""

from __future__ import annotations

from django.utils.translation import gettext as _t

from jobs.errors import JobFailed, RetryRefused
from vms.domainxml.vm import without_display_passwords
from vms.hypervisor import domains
from vms.hypervisor.errors import HypervisorError
from vms.models import VirtualMachine
from vms.runners.vm import VMRunner, load_vm, on_host


def remember_xml(vm: VirtualMachine, dom) -> None:  # noqa: ANN001
    """Keep the database's copy of the VM's domain XML (what the pages read) equal to the host's."""
    VirtualMachine.objects.filter(pk=vm.pk).update(domain_xml=without_display_passwords(domains.saved_xml(dom)))


class ChangeRunner(VMRunner):
    """Subclasses set `label`, `steps` and write `change`; `run` wraps it with the host and the XML copy."""

    def change(self, ctx, conn, dom, vm: VirtualMachine) -> None:  # noqa: ANN001
        raise NotImplementedError

    def check_retry(self, job, user) -> None:
        """A failed change is asked for again rather than retried: sizes, quota, the VM's devices and
        state are checked anew then. A runner whose change can be re-checked from its params overrides this."""
        raise RetryRefused(_t("Ask for this change again from the VM's page: it is checked anew there."))

    def run(self, ctx) -> None:
        vm = load_vm(ctx.job)
        with on_host(ctx, vm) as conn:
            dom = domains.find_by_uuid(conn, str(vm.uuid))
            if dom is None:
                raise JobFailed(
                    _t("VM '%(name)s' is not defined on %(host)s any more.") % {"name": vm.name, "host": vm.host.name}
                )
            try:
                self.change(ctx, conn, dom, vm)
            finally:
                # Even a change that failed half-way may have changed something: the page shows what is.
                try:
                    remember_xml(vm, dom)
                except HypervisorError:
                    pass  # the domain went away (a run-once VM powered off): the watcher records it
