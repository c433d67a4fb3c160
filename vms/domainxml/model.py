"""The Domain model: a typed, lossless view over one parsed libvirt domain XML document."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from lxml import etree

from .devices import Devices
from .errors import InvalidValueError, ParseError
from .fields import INT, Attr, ElementView, SectionView, Text, View
from .names import check_name, check_title
from .sections import CPU, OS, Clock, Features, VcpuState
from .text import check_text
from .tree import ensure_path, find_path, insert_child, insert_element, remove_element
from .units import KIB, to_kib

# Allowed lifecycle actions per event, as documented in libvirt's formatdomain "Events
# configuration": only a crash can additionally dump core first.
LIFECYCLE_ACTIONS: dict[str, tuple[str, ...]] = {
    "on_poweroff": ("destroy", "restart", "preserve", "rename-restart"),
    "on_reboot": ("destroy", "restart", "preserve", "rename-restart"),
    "on_crash": ("destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart"),
}
VIRT_TYPES = ("kvm", "qemu", "kqemu", "lxc", "xen", "hvf", "vmware", "hyperv", "vbox", "test", "bhyve", "vz")


def _parser() -> etree.XMLParser:
    # No DTDs, entities or network: domain XML comes from users, and an external entity must
    # never read a host file. Blank text is kept so the output keeps the input's layout.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
    )


def _check_uuid(value: Any) -> str:
    if isinstance(value, uuidlib.UUID):
        return str(value)
    text = check_text(value, "uuid").strip()
    try:
        return str(uuidlib.UUID(text))
    except ValueError:
        raise InvalidValueError(f"'{value}' is not a UUID (expected 8-4-4-4-12 hex digits)") from None


class Memory:
    """A memory element (<memory>, <currentMemory>, <maxMemory>) read as KiB.

    Setting accepts an int (KiB) or a string with a unit ('2GiB'); the element is written in KiB,
    and its other attributes (slots, dumpCore) are left alone.
    """

    def __init__(self, tag: str, bytes_: bool = False) -> None:
        self.tag = tag
        self.bytes = bytes_

    def __get__(self, obj: View | None, owner: type) -> Any:
        if obj is None:
            return self
        el = find_path(obj._node(), self.tag)
        if el is None or not (el.text or "").strip():
            return None
        try:
            kib = to_kib((el.text or "").strip() + (el.get("unit") or "KiB"))
        except InvalidValueError:
            return None
        return kib * KIB if self.bytes else kib

    def __set__(self, obj: View, value: Any) -> None:
        if value is None:
            el = find_path(obj._node(), self.tag)
            if el is not None:
                remove_element(el)
            return
        kib = to_kib(value, "b" if self.bytes else "KiB")
        if kib <= 0:
            raise InvalidValueError(f"{self.tag} must be more than 0")
        el = ensure_path(obj._node(create=True), self.tag)
        el.set("unit", "KiB")
        el.text = str(kib)


class LifecycleAction(Text[str]):
    def __init__(self, event: str) -> None:
        super().__init__(event, choices=LIFECYCLE_ACTIONS[event], label=event)


class Metadata(SectionView):
    """<metadata>: each child belongs to one application, identified by its namespace."""

    def __init__(self, parent: View) -> None:
        super().__init__(parent, "metadata")

    def get(self, namespace: str) -> etree._Element | None:
        el = self._node()
        if el is None:
            return None
        return next((c for c in el if isinstance(c.tag, str) and etree.QName(c).namespace == namespace), None)

    def set(self, namespace: str, prefix: str, tag: str) -> etree._Element:
        """Return a fresh, empty <prefix:tag xmlns:prefix=namespace> replacing that app's entry."""
        old = self.get(namespace)
        if old is not None:
            remove_element(old)
        parent = self._node(create=True)
        check_text(namespace, "metadata namespace")
        new = parent.makeelement(etree.QName(namespace, check_text(tag, "metadata tag")), nsmap={prefix: namespace})
        return insert_element(parent, new)

    def remove(self, namespace: str) -> None:
        old = self.get(namespace)
        if old is not None:
            remove_element(old)


class Domain(ElementView):
    """One domain document. Every property reads/writes the lxml tree; nothing is cached."""

    type = Attr("type", choices=VIRT_TYPES, label="domain type")
    name = Text("name", check=check_name)
    title = Text("title", check=check_title)
    description = Text("description")
    uuid = Text("uuid", check=_check_uuid)

    memory = Memory("memory")
    memory_bytes = Memory("memory", bytes_=True)
    current_memory = Memory("currentMemory")
    current_memory_bytes = Memory("currentMemory", bytes_=True)
    max_memory = Memory("maxMemory")
    max_memory_bytes = Memory("maxMemory", bytes_=True)
    max_memory_slots = Attr("slots", "maxMemory", INT, minimum=0)

    vcpu = Text("vcpu", INT, minimum=1)
    vcpu_placement = Attr("placement", "vcpu", choices=("static", "auto"))
    vcpu_cpuset = Attr("cpuset", "vcpu")
    vcpu_current = Attr("current", "vcpu", INT, minimum=1)

    on_poweroff = LifecycleAction("on_poweroff")
    on_reboot = LifecycleAction("on_reboot")
    on_crash = LifecycleAction("on_crash")

    def __init__(self, tree: etree._ElementTree) -> None:
        super().__init__(tree.getroot())
        self._tree = tree
        self.os = OS(self)
        self.cpu = CPU(self)
        self.features = Features(self)
        self.clock = Clock(self)
        self.devices = Devices(self)
        self.metadata = Metadata(self)

    # --- parse / build ------------------------------------------------------------------------
    @classmethod
    def from_xml(cls, data: str | bytes) -> Domain:
        if isinstance(data, str):
            # lxml refuses str input that carries an encoding declaration; bytes are fine.
            data = data.encode("utf-8")
        if not isinstance(data, bytes):
            raise ParseError(f"domain XML must be str or bytes, not {type(data).__name__}")
        try:
            root = etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:
            where = f" (line {exc.lineno})" if exc.lineno else ""
            raise ParseError(f"not well-formed XML{where}: {exc.msg}") from None
        if root.tag != "domain":
            raise ParseError(f"the root element must be <domain>, not <{etree.QName(root).localname}>")
        return cls(root.getroottree())

    @classmethod
    def new(cls, name: str, virt_type: str = "kvm") -> Domain:
        """A minimal document to build on: <domain type=...><name>...</name></domain>."""
        dom = cls.from_xml(b"<domain/>")
        dom.type = virt_type
        dom.name = name
        return dom

    def to_xml(self) -> str:
        # Serialise the whole tree so comments/PIs around the root element are kept too.
        return etree.tostring(self._tree, encoding="unicode")

    def copy(self) -> Domain:
        return Domain.from_xml(self.to_xml())

    @property
    def tree(self) -> etree._ElementTree:
        return self._tree

    # --- helpers --------------------------------------------------------------------------------
    def ensure_uuid(self) -> str:
        """Return the UUID, generating a random (version 4) one first when there is none."""
        current = self.uuid
        if not current or not current.strip():
            self.uuid = uuidlib.uuid4()
        return self.uuid  # type: ignore[return-value]

    @property
    def vcpus(self) -> list[VcpuState]:
        el = self._el.find("vcpus")
        return [] if el is None else [VcpuState(v) for v in el.findall("vcpu")]

    def set_vcpu_state(self, vcpu_id: int, enabled: bool, hotpluggable: bool | None = None) -> VcpuState:
        """Add or change <vcpus><vcpu id=.../>: whether that vCPU is online at boot."""
        for state in self.vcpus:
            if state.id == vcpu_id:
                break
        else:
            state = VcpuState(insert_child(ensure_path(self._el, "vcpus"), "vcpu", {"id": str(int(vcpu_id))}))
        state.enabled = enabled
        if hotpluggable is not None:
            state.hotpluggable = hotpluggable
        return state
