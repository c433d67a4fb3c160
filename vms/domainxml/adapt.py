"""Adapt a domain to one host: what that host can actually run, reported in plain sentences.

Pure function over XML strings (host capabilities, domain capabilities, and a few optional
facts about the host passed in as arguments), so it is easy to test against fixtures; see
hostcaps.py for fetching those facts from a libvirt connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .capabilities import DomainCapabilities, GuestArch, HostCapabilities, Machine
from .devices import Disk, Graphics, Interface
from .errors import AdaptError
from .model import Domain
from .tree import remove_element

DomainCapsSource = Mapping[tuple[str, str | None, str], str] | Callable[[str, str | None, str], str | None] | None
# Returns True (exists), False (definitely missing) or None (cannot tell; leave it alone).
PathExists = Callable[[str], bool | None]

# Models every x86 TCG can run, in order of preference, for when a custom model is unusable.
_SAFE_CPU_MODELS = ("qemu64", "kvm64", "qemu32")
# x86 models without long mode (no 'lm' in QEMU's and libvirt's definitions): they cannot run an
# x86_64 guest. Every other x86 model QEMU or libvirt knows is a 64-bit one.
_X86_32BIT_ONLY_MODELS = frozenset(
    {"486", "pentium", "pentium2", "pentium3", "pentiumpro", "qemu32", "kvm32", "coreduo", "athlon", "n270"}
)
_MODE_FALLBACKS = {
    "host-passthrough": ("maximum", "host-model"),
    "maximum": ("host-passthrough", "host-model"),
    "host-model": ("maximum", "host-passthrough"),
}
_FAMILY_LABELS = {"pc": "i440fx", "q35": "q35"}
# <graphics type='spice'> children/attributes VNC does not know.
_SPICE_ONLY_ATTRS = ("tlsPort", "defaultMode")


@dataclass
class AdaptResult:
    xml: str
    adjustments: list[str] = field(default_factory=list)


def machine_family(name: str) -> str:
    """'pc-i440fx-rhel7.0.0' -> 'pc', 'pc-q35-7.2' -> 'q35', 'virt-6.2' -> 'virt'."""
    low = name.lower()
    if "q35" in low:
        return "q35"
    if "i440fx" in low or low == "pc" or re.match(r"^pc-\d", low):
        return "pc"  # QEMU's very old 'pc-0.15', 'pc-1.0' machines are i440fx too
    return re.sub(r"-(rhel)?\d+(\.\d+)*$", "", low)


def cpu_model_runs_arch(model: str, arch: str | None) -> bool:
    """Whether a guest of `arch` can run on CPU model `model` (only x86_64 on 32-bit x86 models is refused).

    QEMU's versioned names ('pentium3-v1') are the same CPU as the plain one.
    """
    if arch != "x86_64":
        return True  # i686 runs on any x86 model; other architectures have their own model names
    return re.sub(r"-v\d+$", "", model) not in _X86_32BIT_ONLY_MODELS


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", name))


def _pick_machine(wanted: str, offered: list[Machine]) -> Machine | None:
    family = machine_family(wanted)
    alias = next((m for m in offered if m.name == family and m.canonical), None)
    if alias:
        return alias
    same = [m for m in offered if machine_family(m.name) == family and not m.deprecated]
    return max(same, key=lambda m: _version_key(m.name)) if same else None


def _lookup_domain_caps(
    source: DomainCapsSource, arch: str, machine: str | None, virt_type: str, canonical: str | None
) -> DomainCapabilities | None:
    if source is None:
        return None
    xml = None
    if callable(source):
        xml = source(arch, machine, virt_type)
    else:
        for key in ((arch, machine, virt_type), (arch, canonical, virt_type), (arch, None, virt_type)):
            if key in source:
                xml = source[key]
                break
    return DomainCapabilities.from_xml(xml) if xml else None


class _Adapter:
    def __init__(
        self,
        dom: Domain,
        caps: HostCapabilities,
        domain_caps: DomainCapsSource,
        *,
        bridges: Iterable[str] | None,
        networks: Iterable[str] | None,
        fallback_network: str | None,
        path_exists: PathExists | None,
        virt_types: Sequence[str],
    ) -> None:
        self.dom = dom
        self.caps = caps
        self.domain_caps_source = domain_caps
        self.bridges = None if bridges is None else set(bridges)
        self.networks = None if networks is None else list(networks)
        self.fallback_network = fallback_network
        self.path_exists = path_exists
        self.virt_types = tuple(virt_types)
        self.notes: list[str] = []
        self.dc: DomainCapabilities | None = None
        self.arch: str | None = None  # the guest's architecture, once guest_arch() has found it

    def note(self, sentence: str) -> None:
        self.notes.append(sentence)

    # --- platform -------------------------------------------------------------------------------
    def guest_arch(self) -> GuestArch:
        os_type = self.dom.os.type or "hvm"
        arch = self.dom.os.arch
        if not arch:
            arch = self.caps.host_arch or ""
            if self.caps.guest(os_type, arch) is not None:
                self.dom.os.arch = arch
                self.note(f"No guest architecture was set; using the host's, '{arch}'.")
        guest = self.caps.guest(os_type, arch)
        if guest is None:
            offered = ", ".join(sorted({g.arch for g in self.caps.guests if g.os_type == os_type})) or "none"
            raise AdaptError(
                f"This host cannot run '{os_type}' guests for architecture '{arch}' (it offers: {offered})."
            )
        return guest

    def virt_type(self, guest: GuestArch) -> str:
        offered = list(guest.domain_types) or ["qemu"]
        current = self.dom.type
        if current in offered and current in self.virt_types:
            return current
        choice = next((t for t in self.virt_types if t in offered), None)
        if choice is None:
            raise AdaptError(
                f"This host offers domain types {', '.join(offered)}, none of which is "
                f"allowed here ({', '.join(self.virt_types)})."
            )
        self.dom.type = choice
        if current == "kvm" and choice == "qemu":
            why = "disabled for" if "kvm" in offered else "not available on"
            self.note(f"KVM is {why} this host; using software emulation (domain type 'qemu').")
        else:
            self.note(f"Domain type '{current}' is not available on this host; using '{choice}'.")
        return choice

    def emulator(self, guest: GuestArch, virt_type: str) -> None:
        wanted = guest.emulator_for(virt_type)
        current = self.dom.devices.emulator
        if wanted and current and current != wanted:
            self.dom.devices.emulator = wanted
            self.note(f"Emulator '{current}' does not exist on this host; using '{wanted}'.")

    def machine(self, guest: GuestArch, virt_type: str) -> Machine | None:
        offered = guest.machines_for(virt_type)
        current = self.dom.os.machine
        if not current or not offered:
            return None
        found = next((m for m in offered if m.name == current), None)
        if found:
            return found
        pick = _pick_machine(current, offered)
        if pick is None:
            raise AdaptError(f"Machine type '{current}' is not offered by this host and it has no equivalent there.")
        self.dom.os.machine = pick.name
        label = _FAMILY_LABELS.get(machine_family(pick.name))
        self.note(
            f"Machine type '{current}' is not offered by this host; using '{pick.name}'"
            + (f" ({label})." if label else ".")
        )
        return pick

    # --- CPU --------------------------------------------------------------------------------------
    def _mode_ok(self, mode: str, virt_type: str) -> bool:
        if self.dc is not None and mode in self.dc.cpu_modes:
            return self.dc.cpu_modes[mode]
        return mode != "host-passthrough" or virt_type == "kvm"  # passthrough needs hardware

    def _usable_model(self) -> str | None:
        """A model the host can run and the guest's architecture can use (never a 32-bit one for x86_64)."""
        models = self.dc.cpu_models if self.dc else {}
        fits = [name for name, ok in models.items() if ok and cpu_model_runs_arch(name, self.arch)]
        return next((name for name in _SAFE_CPU_MODELS if name in fits), None) or next(iter(fits), None)

    def cpu(self, virt_type: str) -> None:
        cpu = self.dom.cpu
        if not cpu.present:
            return
        mode = cpu.mode or ("custom" if cpu.model else None)
        if mode in _MODE_FALLBACKS and not self._mode_ok(mode, virt_type):
            new_mode = next((m for m in _MODE_FALLBACKS[mode] if self._mode_ok(m, virt_type)), None)
            if new_mode is not None:
                cpu.mode = new_mode
                reason = "needs KVM" if mode == "host-passthrough" and virt_type != "kvm" else "is not supported here"
                self.note(f"CPU mode '{mode}' {reason}; using '{new_mode}' instead.")
                return
            self._to_custom_model(cpu.model, f"CPU mode '{mode}' is not supported on this host")
            return
        if mode == "custom" and cpu.model and self.dc is not None and self.dc.cpu_models:
            if not self.dc.cpu_models.get(cpu.model, False):
                self._to_custom_model(
                    cpu.model, f"CPU model '{cpu.model}' cannot run on this host (domain type '{virt_type}')"
                )

    def _to_custom_model(self, old_model: str | None, reason: str) -> None:
        cpu = self.dom.cpu
        model = self._usable_model()
        if model is None:
            # Without a <cpu> element libvirt uses the hypervisor's default model.
            cpu.remove()
            usable = self.dc is not None and any(self.dc.cpu_models.values())
            why = f" (none of the CPU models usable here can run {self.arch} guests)" if usable else ""
            self.note(f"{reason}; removed the CPU definition so the hypervisor default is used{why}.")
            return
        cpu.mode = "custom"
        cpu.model = model
        dropped = [name for name, policy in cpu.features.items() if policy in ("require", "force")]
        for name in dropped:
            cpu.remove_feature(name)
        extra = f" (dropped required features: {', '.join(dropped)})" if dropped else ""
        self.note(f"{reason}; using model '{model}' instead{extra}.")

    def vcpus(self) -> None:
        if self.dc is None or not self.dc.max_vcpus:
            return
        count = self.dom.vcpu
        if count and count > self.dc.max_vcpus:
            self.dom.vcpu = self.dc.max_vcpus
            current = self.dom.vcpu_current
            if current and current > self.dc.max_vcpus:
                self.dom.vcpu_current = self.dc.max_vcpus
            self.note(f"This host allows at most {self.dc.max_vcpus} vCPUs for this machine; reduced from {count}.")

    # --- devices ----------------------------------------------------------------------------------
    def graphics(self) -> None:
        allowed = self.dc.values("graphics", "type") if self.dc else None
        if allowed is None:
            return
        for gfx in self.dom.devices.graphics:
            kind = gfx.type or ""
            if kind in allowed:
                continue
            if "vnc" in allowed and kind in ("spice", "sdl", "egl-headless", "dbus", "rdp"):
                self._to_vnc(gfx)
                self.note(
                    f"{kind.upper() if kind == 'spice' else kind} graphics are not supported on this "
                    f"host; using VNC instead."
                )
            else:
                self.dom.devices.remove(gfx)
                self.note(f"Removed the '{kind}' graphics device: this host does not support it.")
        if not any(g.type == "spice" for g in self.dom.devices.graphics):
            self._drop_spice_dependents()

    @staticmethod
    def _to_vnc(gfx: Graphics) -> None:
        el = gfx.element
        el.set("type", "vnc")
        for attr in _SPICE_ONLY_ATTRS:
            el.attrib.pop(attr, None)
        for child in [c for c in el if isinstance(c.tag, str) and c.tag != "listen"]:
            remove_element(child)

    def _drop_spice_dependents(self) -> None:
        devices = self.dom.devices
        for chan in devices.channels:
            if chan.type == "spicevmc" or chan.type == "spiceport":
                devices.remove(chan)
                name = chan.target_name or chan.type
                self.note(f"Removed the SPICE channel '{name}' (it needs SPICE graphics).")
        redirs = [r for r in devices.redirdevs if r.type == "spicevmc"]
        for redir in redirs:
            devices.remove(redir)
        if redirs:
            self.note(
                f"Removed {len(redirs)} USB redirection device{'s' if len(redirs) > 1 else ''} "
                f"(USB redirection needs SPICE graphics)."
            )
        for audio in devices.of_kind("audio"):
            if audio.type == "spice":
                audio.type = "none"
                self.note("SPICE audio is not available; the sound card has no audio backend now.")

    def videos(self) -> None:
        allowed = self.dc.values("video", "modelType") if self.dc else None
        if not allowed:
            return
        for video in self.dom.devices.videos:
            model = video.model_type
            if model and model not in allowed:
                new = next((m for m in ("virtio", "vga", "cirrus") if m in allowed), allowed[0])
                model_el = video.element.find("model")
                for attr in list(model_el.attrib):
                    if attr not in ("type", "heads", "primary"):
                        del model_el.attrib[attr]  # ram/vram sizes belong to the old model
                video.model_type = new
                self.note(f"Video model '{model}' is not supported on this host; using '{new}'.")

    def channels(self) -> None:
        allowed = self.dc.values("channel", "type") if self.dc else None
        if allowed is None:
            return
        for chan in self.dom.devices.channels:
            if chan.type and chan.type not in allowed:
                self.dom.devices.remove(chan)
                self.note(
                    f"Removed the '{chan.type}' channel '{chan.target_name or ''}': "
                    f"this host does not support that channel type."
                )

    def redirdevs(self) -> None:
        allowed = self.dc.values("redirdev", "bus") if self.dc else None
        if allowed is None:
            return
        for redir in self.dom.devices.redirdevs:
            if redir.bus and redir.bus not in allowed:
                self.dom.devices.remove(redir)
                self.note(f"Removed a USB redirection device: this host does not support bus '{redir.bus}'.")

    def disks(self) -> None:
        devices_ok = self.dc.values("disk", "diskDevice") if self.dc else None
        buses_ok = self.dc.values("disk", "bus") if self.dc else None
        for disk in self.dom.devices.disks:
            name = disk.target_dev or "?"
            if devices_ok is not None and disk.device and disk.device not in devices_ok:
                self.note(f"Disk {name} is a '{disk.device}', which this host does not support.")
            if buses_ok is not None and disk.target_bus and disk.target_bus not in buses_ok:
                self.note(f"Disk {name} uses bus '{disk.target_bus}', which this host does not support.")
            self._disk_source(disk, name)

    def _disk_source(self, disk: Disk, name: str) -> None:
        path = disk.local_path
        if not path or self.path_exists is None or self.path_exists(path) is not False:
            return
        if disk.removable:
            disk.eject()
            kind = "CD-ROM" if disk.device == "cdrom" else "floppy"
            self.note(f"The {kind} image '{path}' does not exist on this host; the {kind} drive {name} is left empty.")
        else:
            self.note(
                f"Disk image '{path}' ({name}) does not exist on this host yet; "
                f"it must be created before the domain can start."
            )

    def _replacement_network(self) -> str | None:
        if self.fallback_network and (self.networks is None or self.fallback_network in self.networks):
            return self.fallback_network
        if self.networks and "default" in self.networks:
            return "default"
        return None

    def interfaces(self) -> None:
        for iface in self.dom.devices.interfaces:
            if iface.type == "bridge" and self.bridges is not None:
                missing, what = iface.source_bridge, "Bridge"
                if missing in self.bridges:
                    continue
            elif iface.type == "network" and self.networks is not None:
                missing, what = iface.source_network, "Network"
                if missing in self.networks:
                    continue
            else:
                continue
            self._reconnect(iface, f"{what} '{missing}' does not exist on this host")

    def _reconnect(self, iface: Interface, reason: str) -> None:
        who = f"interface {iface.mac}" if iface.mac else "the interface"
        network = self._replacement_network()
        if network is not None:
            iface.connect_to_network(network)
            self.note(f"{reason}; {who} now uses network '{network}'.")
        else:
            iface.use_user_networking()
            self.note(f"{reason}; {who} now uses user-mode networking (outgoing connections only).")

    # --- all --------------------------------------------------------------------------------------
    def run(self) -> None:
        guest = self.guest_arch()
        self.arch = guest.arch
        virt_type = self.virt_type(guest)
        self.emulator(guest, virt_type)
        machine = self.machine(guest, virt_type)
        self.dc = _lookup_domain_caps(
            self.domain_caps_source, guest.arch, self.dom.os.machine, virt_type, machine.canonical if machine else None
        )
        self.cpu(virt_type)
        self.vcpus()
        self.graphics()
        self.videos()
        self.channels()
        self.redirdevs()
        self.disks()
        self.interfaces()


def adapt(
    domain: Domain | str | bytes,
    host_caps_xml: str | bytes,
    domain_caps: DomainCapsSource = None,
    *,
    bridges: Iterable[str] | None = None,
    networks: Iterable[str] | None = None,
    fallback_network: str | None = None,
    path_exists: PathExists | None = None,
    virt_types: Sequence[str] = ("kvm", "qemu"),
) -> AdaptResult:
    """Return the domain XML changed so this host can run it, and what was changed and why.

    domain_caps maps (arch, machine, virt_type) to domain-capabilities XML, or is a callable
    with those arguments; without it only host-capability checks are done. bridges/networks
    list what exists on the host (None: unknown, leave interfaces alone). path_exists tells
    whether a disk source exists there (None result: unknown). virt_types is the order of
    preference for the domain type; pass ('qemu',) where KVM is known to be unusable even if
    the capabilities list it. The input document is not modified.
    """
    source = domain.to_xml() if isinstance(domain, Domain) else domain
    dom = Domain.from_xml(source)
    adapter = _Adapter(
        dom,
        HostCapabilities.from_xml(host_caps_xml),
        domain_caps,
        bridges=bridges,
        networks=networks,
        fallback_network=fallback_network,
        path_exists=path_exists,
        virt_types=virt_types,
    )
    adapter.run()
    return AdaptResult(dom.to_xml(), adapter.notes)
