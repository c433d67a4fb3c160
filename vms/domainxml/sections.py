"""Typed views of the non-device sections: <os>, <cpu>, <features>, <clock>, <vcpus>."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lxml import etree

from .errors import InvalidValueError
from .fields import INT, YESNO, Attr, ElementView, SectionView, Text, View, bool_from_user
from .text import check_text
from .tree import element_children, insert_child, remove_element

BOOT_DEVICES = ("fd", "hd", "cdrom", "network")


class OS(SectionView):
    """<os>: guest type, machine, boot order, and direct kernel boot."""

    type = Text("type", choices=("hvm", "linux", "xen", "xenpvh", "exe", "uml"), label="os type")
    arch = Attr("arch", "type")
    machine = Attr("machine", "type")
    firmware = Attr("firmware", choices=("bios", "efi"))
    loader = Text("loader", label="loader path")
    loader_readonly = Attr("readonly", "loader", YESNO)
    loader_type = Attr("type", "loader", choices=("rom", "pflash"), label="loader type")
    nvram = Text("nvram")
    kernel = Text("kernel")
    initrd = Text("initrd")
    cmdline = Text("cmdline")
    bootmenu_enabled = Attr("enable", "bootmenu", YESNO)
    bootmenu_timeout = Attr("timeout", "bootmenu", INT, minimum=0)

    def __init__(self, parent: View) -> None:
        super().__init__(parent, "os")

    @property
    def hvm(self) -> bool:
        return self.type == "hvm"

    @property
    def boot_devices(self) -> list[str]:
        el = self._node()
        return [] if el is None else [b.get("dev", "") for b in el.findall("boot")]

    @boot_devices.setter
    def boot_devices(self, devices: Iterable[str]) -> None:
        devices = list(devices)
        for dev in devices:
            if dev not in BOOT_DEVICES:
                raise InvalidValueError(f"boot device cannot be '{dev}'; allowed: {', '.join(BOOT_DEVICES)}")
        if len(set(devices)) != len(devices):
            raise InvalidValueError("a boot device can only be listed once")
        el = self._node(create=bool(devices))
        if el is None:
            return
        for old in el.findall("boot"):
            remove_element(old)
        for dev in devices:
            insert_child(el, "boot", {"dev": dev})


class CPU(SectionView):
    """<cpu>: mode and model (topology, features kept as they are unless asked)."""

    mode = Attr("mode", choices=("custom", "host-model", "host-passthrough", "maximum"), label="cpu mode")
    match = Attr("match", choices=("minimum", "exact", "strict"), label="cpu match")
    check = Attr("check", choices=("none", "partial", "full"), label="cpu check")
    model = Text("model", label="cpu model")
    model_fallback = Attr("fallback", "model", choices=("allow", "forbid"))
    vendor = Text("vendor")
    sockets = Attr("sockets", "topology", INT, minimum=1)
    cores = Attr("cores", "topology", INT, minimum=1)
    threads = Attr("threads", "topology", INT, minimum=1)

    def __init__(self, parent: View) -> None:
        super().__init__(parent, "cpu")

    @property
    def features(self) -> dict[str, str]:
        """Feature name -> policy (require, disable, optional, force, forbid)."""
        el = self._node()
        return {} if el is None else {f.get("name", ""): f.get("policy", "require") for f in el.findall("feature")}

    def set_feature(self, name: str, policy: str = "require") -> None:
        if policy not in ("force", "require", "optional", "disable", "forbid"):
            raise InvalidValueError(f"cpu feature policy cannot be '{policy}'")
        el = self._node(create=True)
        for f in el.findall("feature"):
            if f.get("name") == name:
                f.set("policy", policy)
                return
        insert_child(el, "feature", {"policy": policy, "name": check_text(name, "cpu feature")})

    def remove_feature(self, name: str) -> None:
        el = self._node()
        for f in [] if el is None else el.findall("feature"):
            if f.get("name") == name:
                remove_element(f)


class FeatureFlag:
    """A <features> child read as a boolean: present (and not state='off') means on."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Features | None, owner: type) -> Any:
        if obj is None:
            return self
        return obj.enabled(self.name)

    def __set__(self, obj: Features, value: Any) -> None:
        if bool_from_user(value):
            obj.set(self.name)
        else:
            obj.remove(self.name)


class Features(SectionView):
    """<features>: booleans for the common ones, a generic API for all the others."""

    pae = FeatureFlag("pae")
    acpi = FeatureFlag("acpi")
    apic = FeatureFlag("apic")
    hap = FeatureFlag("hap")

    def __init__(self, parent: View) -> None:
        super().__init__(parent, "features")

    def names(self) -> list[str]:
        el = self._node()
        return [] if el is None else [c.tag for c in element_children(el)]

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def get(self, name: str) -> etree._Element | None:
        el = self._node()
        return None if el is None else el.find(name)

    def enabled(self, name: str) -> bool:
        feat = self.get(name)
        return feat is not None and feat.get("state", "on") != "off"

    def set(self, name: str, **attrs: str) -> etree._Element:
        """Turn a feature on (creating it, or clearing state='off'); attrs are set on it."""
        feat = self.get(name)
        if feat is None:
            feat = insert_child(self._node(create=True), check_text(name, "feature"))
        elif feat.get("state") == "off":
            feat.set("state", "on")
        for key, value in attrs.items():
            feat.set(key, check_text(str(value), f"feature {name} {key}"))
        return feat

    def remove(self, name: str) -> None:
        feat = self.get(name)
        if feat is not None:
            remove_element(feat)


class Timer(ElementView):
    name = Attr("name")
    tickpolicy = Attr("tickpolicy", choices=("delay", "catchup", "merge", "discard"))
    present = Attr("present", conv=YESNO)
    track = Attr("track")
    frequency = Attr("frequency", conv=INT)
    mode = Attr("mode")


class Clock(SectionView):
    offset = Attr("offset", choices=("utc", "localtime", "timezone", "variable", "absolute"), label="clock offset")
    timezone = Attr("timezone")
    adjustment = Attr("adjustment")
    basis = Attr("basis", choices=("utc", "localtime"))

    def __init__(self, parent: View) -> None:
        super().__init__(parent, "clock")

    @property
    def timers(self) -> list[Timer]:
        el = self._node()
        return [] if el is None else [Timer(t) for t in el.findall("timer")]

    def timer(self, name: str) -> Timer | None:
        return next((t for t in self.timers if t.name == name), None)

    def add_timer(self, name: str, **attrs: Any) -> Timer:
        timer = Timer(insert_child(self._node(create=True), "timer", {"name": check_text(name, "timer name")}))
        for key, value in attrs.items():
            setattr(timer, key, value)
        return timer

    def remove_timer(self, name: str) -> None:
        timer = self.timer(name)
        if timer is not None:
            remove_element(timer.element)


class VcpuState(ElementView):
    """One <vcpus><vcpu id=.../> entry (per-vCPU hotplug state)."""

    id = Attr("id", conv=INT)
    enabled = Attr("enabled", conv=YESNO)
    hotpluggable = Attr("hotpluggable", conv=YESNO)
    order = Attr("order", conv=INT, minimum=1)
