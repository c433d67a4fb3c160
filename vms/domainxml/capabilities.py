"""Plain data read from libvirt's host capabilities and domain capabilities XML.

Pure parsing, no libvirt import: the XML comes from conn.getCapabilities() and
conn.getDomainCapabilities(), or from test fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from .errors import ParseError


def _parse(xml: str | bytes, root: str) -> etree._Element:
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    try:
        el = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"{root} XML is not well-formed: {exc}") from None
    if el.tag != root:
        raise ParseError(f"expected <{root}>, got <{el.tag}>")
    return el


@dataclass(frozen=True)
class Machine:
    name: str
    canonical: str | None = None  # set on aliases: 'pc' -> 'pc-i440fx-7.2'
    deprecated: bool = False


@dataclass
class GuestArch:
    """One <guest> entry: what this host can run for an (os_type, arch)."""

    os_type: str
    arch: str
    emulator: str | None
    machines: list[Machine]
    # virt type -> (emulator override, machines override); libvirt lists 'kvm' only when usable.
    domain_types: dict[str, tuple[str | None, list[Machine]]] = field(default_factory=dict)

    def emulator_for(self, virt_type: str) -> str | None:
        override = self.domain_types.get(virt_type, (None, []))[0]
        return override or self.emulator

    def machines_for(self, virt_type: str) -> list[Machine]:
        override = self.domain_types.get(virt_type, (None, []))[1]
        return override or self.machines


def _machines(parent: etree._Element) -> list[Machine]:
    return [
        Machine((m.text or "").strip(), m.get("canonical"), m.get("deprecated") == "yes")
        for m in parent.findall("machine")
    ]


@dataclass
class HostCapabilities:
    host_arch: str | None
    guests: list[GuestArch]

    @classmethod
    def from_xml(cls, xml: str | bytes) -> HostCapabilities:
        root = _parse(xml, "capabilities")
        guests = []
        for guest in root.findall("guest"):
            arch = guest.find("arch")
            if arch is None:
                continue
            entry = GuestArch(
                os_type=(guest.findtext("os_type") or "").strip(),
                arch=arch.get("name", ""),
                emulator=(arch.findtext("emulator") or "").strip() or None,
                machines=_machines(arch),
            )
            for dom in arch.findall("domain"):
                entry.domain_types[dom.get("type", "")] = (
                    (dom.findtext("emulator") or "").strip() or None,
                    _machines(dom),
                )
            guests.append(entry)
        return cls((root.findtext("host/cpu/arch") or "").strip() or None, guests)

    def guest(self, os_type: str, arch: str) -> GuestArch | None:
        return next((g for g in self.guests if g.os_type == os_type and g.arch == arch), None)


@dataclass
class DomainCapabilities:
    """The parts of <domainCapabilities> that adapt() looks at."""

    path: str | None
    virt_type: str | None
    machine: str | None
    arch: str | None
    max_vcpus: int | None
    cpu_modes: dict[str, bool]  # mode name -> supported
    cpu_models: dict[str, bool]  # custom model name -> usable (True when 'usable' is unknown)
    host_model: str | None
    enums: dict[tuple[str, str], list[str]]  # (device tag, enum name) -> values
    supported: dict[str, bool]  # device tag -> supported

    @classmethod
    def from_xml(cls, xml: str | bytes) -> DomainCapabilities:
        root = _parse(xml, "domainCapabilities")
        vcpu = root.find("vcpu")
        modes, models, host_model = {}, {}, None
        for mode in root.findall("cpu/mode"):
            name = mode.get("name", "")
            modes[name] = mode.get("supported") == "yes"
            if name == "custom":
                for model in mode.findall("model"):
                    models[(model.text or "").strip()] = model.get("usable", "yes") != "no"
            elif name == "host-model":
                host_model = (mode.findtext("model") or "").strip() or None
        enums: dict[tuple[str, str], list[str]] = {}
        supported: dict[str, bool] = {}
        for dev in root.findall("devices/*"):
            supported[dev.tag] = dev.get("supported") == "yes"
            for enum in dev.findall("enum"):
                enums[(dev.tag, enum.get("name", ""))] = [(v.text or "").strip() for v in enum.findall("value")]
        return cls(
            path=(root.findtext("path") or "").strip() or None,
            virt_type=(root.findtext("domain") or "").strip() or None,
            machine=(root.findtext("machine") or "").strip() or None,
            arch=(root.findtext("arch") or "").strip() or None,
            max_vcpus=int(vcpu.get("max")) if vcpu is not None and (vcpu.get("max") or "").isdigit() else None,
            cpu_modes=modes,
            cpu_models=models,
            host_model=host_model,
            enums=enums,
            supported=supported,
        )

    def values(self, device: str, enum: str) -> list[str] | None:
        """Allowed values, or None when the host does not say (then we assume anything goes)."""
        if device in self.supported and not self.supported[device]:
            return []
        return self.enums.get((device, enum))
