"""vCPUs and memory of a domain, its name and its autostart: live where the domain allows, and always
in the persistent config, so that what the host boots next time is what was asked for.

A running domain grows live only up to the maximum it was started with (`<vcpu>` with `current`
below it; `<memory>` above `<currentMemory>`, reached by the balloon). Beyond that, or when the guest
or QEMU refuses the live change, the change is saved in the config and takes effect at next boot:
`Outcome.next_boot` says so, with the host's words when it refused.

No Django here: the runner decides what to ask for and turns outcomes into sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libvirt

from vms.domainxml import Domain
from vms.hypervisor.errors import wrap
from vms.hypervisor.uris import safe_uri

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
VCPU_MAXIMUM = libvirt.VIR_DOMAIN_VCPU_MAXIMUM
MEM_MAXIMUM = libvirt.VIR_DOMAIN_MEM_MAXIMUM


@dataclass
class Outcome:
    """What became of one size change: `live` (the running guest has it now) or only in the config."""

    what: str  # "vcpus" or "memory_mib"
    value: int
    live: bool = False
    next_boot: bool = False  # running, but the change waits for the next boot
    why: str = ""  # the host's message when a live change was refused


@dataclass
class ResizeResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def waiting_for_boot(self) -> list[str]:
        return [o.what for o in self.outcomes if o.next_boot]


def _where(dom: libvirt.virDomain) -> str:
    return f"host {safe_uri(dom.connect().getURI())}"


def _call(dom: libvirt.virDomain, action: str, fn, *args):  # noqa: ANN001, ANN202
    """`action` names what of the VM, e.g. "set the vCPUs" -> "Could not set the vCPUs of VM 'web-1' on host ..."."""
    try:
        return fn(*args)
    except libvirt.libvirtError as exc:
        what = action.format(vm=f"VM '{dom.name()}'") if "{vm}" in action else f"{action} of VM '{dom.name()}'"
        raise wrap(exc, what, _where(dom)) from exc


def _config(dom: libvirt.virDomain) -> Domain:
    return Domain.from_xml(_call(dom, "read the configuration", dom.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE))


def set_config_vcpus(dom: libvirt.virDomain, vcpus: int, live_max: int = 0) -> None:
    """The persistent config boots `vcpus` online out of max(vcpus, live_max) defined: room to grow live."""
    cfg = _config(dom)
    old_max = cfg.vcpu or 1
    new_max = max(vcpus, live_max)
    set_max = new_max != old_max
    # libvirt keeps current <= maximum at every call: raise the maximum first, lower it last.
    if set_max and new_max > old_max:
        _call(dom, "set the maximum vCPUs", dom.setVcpusFlags, new_max, CONFIG | VCPU_MAXIMUM)
    _call(dom, "set the vCPUs", dom.setVcpusFlags, vcpus, CONFIG)
    if set_max and new_max < old_max:
        _call(dom, "set the maximum vCPUs", dom.setVcpusFlags, new_max, CONFIG | VCPU_MAXIMUM)


def set_config_memory(dom: libvirt.virDomain, memory_mib: int, live_max_mib: int = 0) -> None:
    """The persistent config boots with `memory_mib` (the balloon) of max(memory_mib, live_max_mib)."""
    kib = memory_mib * 1024
    max_kib = max(memory_mib, live_max_mib) * 1024
    cfg = _config(dom)
    if cfg.memory != max_kib:
        _call(dom, "set the maximum memory", dom.setMemoryFlags, max_kib, CONFIG | MEM_MAXIMUM)
    _call(dom, "set the memory", dom.setMemoryFlags, kib, CONFIG)


def resize(
    dom: libvirt.virDomain,
    *,
    vcpus: int | None = None,
    memory_mib: int | None = None,
    live_max_vcpus: int = 0,
    live_max_memory_mib: int = 0,
) -> ResizeResult:
    """Set what is given; live on a running domain where it fits its started maximum, always in the config.

    A live change the host refuses (a guest that does not answer a vCPU unplug, no balloon device) is
    not an error: the config still changes and the outcome says it waits for the next boot and why.
    An error changing the config is raised (HypervisorError): nothing was saved for the next boot.
    """
    result = ResizeResult()
    running = bool(dom.isActive())
    persistent = bool(dom.isPersistent())
    if vcpus is not None:
        outcome = Outcome("vcpus", vcpus)
        if running:
            live_max = _call(dom, "read the maximum vCPUs", dom.vcpusFlags, LIVE | VCPU_MAXIMUM)
            _live(dom, outcome, live_max, lambda: dom.setVcpusFlags(vcpus, LIVE))
        if persistent:
            set_config_vcpus(dom, vcpus, live_max_vcpus)
        result.outcomes.append(outcome)
    if memory_mib is not None:
        outcome = Outcome("memory_mib", memory_mib)
        if running:
            live_max_kib = _call(dom, "read the maximum memory", dom.maxMemory)
            _live(dom, outcome, live_max_kib // 1024, lambda: dom.setMemoryFlags(memory_mib * 1024, LIVE))
        if persistent:
            set_config_memory(dom, memory_mib, live_max_memory_mib)
        result.outcomes.append(outcome)
    return result


def _live(dom: libvirt.virDomain, outcome: Outcome, live_max: int, change) -> None:  # noqa: ANN001
    if outcome.value > live_max:
        outcome.next_boot = True
        outcome.why = f"the running VM was started with at most {live_max}"
        return
    try:
        change()
        outcome.live = True
    except libvirt.libvirtError as exc:
        outcome.next_boot = True
        outcome.why = exc.get_error_message() or str(exc)


def live_vcpus(dom: libvirt.virDomain) -> int:
    return _call(dom, "read the vCPUs", dom.vcpusFlags, LIVE)


def rename(dom: libvirt.virDomain, new_name: str) -> None:
    """Rename a stopped, persistent domain (libvirt refuses a running one)."""
    if dom.name() == new_name:
        return  # a retried job already did it
    _call(dom, "rename {vm} to " + repr(new_name), dom.rename, new_name, 0)


def set_autostart(dom: libvirt.virDomain, on: bool) -> None:
    if bool(_call(dom, "read the autostart", dom.autostart)) == on:
        return
    _call(dom, "set the autostart", dom.setAutostart, 1 if on else 0)
