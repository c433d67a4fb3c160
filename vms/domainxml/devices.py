"""Typed views of the children of <devices>, and the <devices> section itself.

Each device class only names the attributes we use; the element keeps everything else as it
was. Unknown device kinds are still listed (as plain Device) so nothing is hidden from callers.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from .errors import InvalidValueError
from .fields import INT, YESNO, Attr, ElementView, Flag, SectionView, Text, View
from .text import check_text
from .tree import element_children, insert_child, remove_element

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def _check_mac(value: Any) -> str:
    value = check_text(value, "mac")
    if not _MAC.match(value):
        raise InvalidValueError(f"'{value}' is not a MAC address (expected six hex pairs like 52:54:00:12:34:56)")
    if int(value[:2], 16) & 1:
        raise InvalidValueError(f"'{value}' is a multicast MAC address; a NIC needs a unicast one")
    return value.lower()


class Device(ElementView):
    """Any child of <devices>."""

    kind = ""
    type = Attr("type")
    alias = Attr("name", "alias")
    boot_order = Attr("order", "boot", INT, minimum=1)
    address_type = Attr("type", "address")

    @property
    def address(self) -> dict[str, str] | None:
        """The <address> attributes (type, bus, slot, ...) or None when libvirt will pick one."""
        el = self._el.find("address")
        return None if el is None else dict(el.attrib)

    def set_address(self, type: str, **attrs: str) -> None:
        self.remove_address()
        values = {"type": type, **{k: str(v) for k, v in attrs.items()}}
        for key, value in values.items():
            check_text(value, f"address {key}")
        insert_child(self._el, "address", values)

    def remove_address(self) -> None:
        el = self._el.find("address")
        if el is not None:
            remove_element(el)


class Disk(Device):
    kind = "disk"
    device = Attr("device", choices=("disk", "cdrom", "floppy", "lun"))
    driver_name = Attr("name", "driver")
    driver_type = Attr("type", "driver")
    driver_cache = Attr("cache", "driver")
    source_file = Attr("file", "source")
    source_dev = Attr("dev", "source")
    source_dir = Attr("dir", "source")
    source_pool = Attr("pool", "source")
    source_volume = Attr("volume", "source")
    source_protocol = Attr("protocol", "source")
    source_name = Attr("name", "source")
    target_dev = Attr("dev", "target")
    target_bus = Attr("bus", "target")
    readonly = Flag("readonly")
    shareable = Flag("shareable")
    serial = Text("serial")

    # Which <source> attribute holds the location for each disk type.
    _SOURCE_ATTR = {"file": "file", "block": "dev", "dir": "dir", "network": "name"}

    @property
    def source(self) -> str | None:
        """The location whatever the disk type: a path, 'pool/volume', or a network name."""
        src = self._el.find("source")
        if src is None:
            return None
        if self.type == "volume":
            pool, vol = src.get("pool"), src.get("volume")
            return f"{pool}/{vol}" if pool and vol else None
        return src.get(self._SOURCE_ATTR.get(self.type or "file", "file"))

    @property
    def local_path(self) -> str | None:
        """The host path for file/block/dir disks (None for network and volume disks)."""
        if (self.type or "file") in ("file", "block", "dir"):
            return self.source
        return None

    @property
    def removable(self) -> bool:
        return self.device in ("cdrom", "floppy")

    def eject(self) -> None:
        """Remove the medium (only meaningful for cdrom/floppy; libvirt keeps an empty drive)."""
        src = self._el.find("source")
        if src is not None:
            remove_element(src)


class Interface(Device):
    kind = "interface"
    mac = Attr("address", "mac", check=_check_mac)
    source_bridge = Attr("bridge", "source")
    source_network = Attr("network", "source")
    source_dev = Attr("dev", "source")
    model = Attr("type", "model")
    target_dev = Attr("dev", "target")
    link_state = Attr("state", "link", choices=("up", "down"))

    def _reset_source(self, new_type: str, attrs: dict[str, str] | None) -> None:
        # Bridge/direct specific children make no sense for the new type; drop them.
        for tag in ("source", "virtualport"):
            for el in self._el.findall(tag):
                remove_element(el)
        self._el.set("type", new_type)
        if attrs:
            insert_child(self._el, "source", attrs)

    def connect_to_network(self, network: str) -> None:
        self._reset_source("network", {"network": check_text(network, "network")})

    def connect_to_bridge(self, bridge: str) -> None:
        self._reset_source("bridge", {"bridge": check_text(bridge, "bridge")})

    def use_user_networking(self) -> None:
        self._reset_source("user", None)


class Controller(Device):
    kind = "controller"
    index = Attr("index", conv=INT, minimum=0)
    model = Attr("model")


class CharDevice(Device):
    """serial, parallel, console and channel share the character-device layout."""

    source_path = Attr("path", "source")
    source_mode = Attr("mode", "source")
    target_type = Attr("type", "target")
    target_name = Attr("name", "target")
    target_port = Attr("port", "target", INT)


class Serial(CharDevice):
    kind = "serial"


class Parallel(CharDevice):
    kind = "parallel"


class Console(CharDevice):
    kind = "console"


class Channel(CharDevice):
    kind = "channel"


class Input(Device):
    kind = "input"
    bus = Attr("bus")


class Graphics(Device):
    kind = "graphics"
    port = Attr("port", conv=INT)
    autoport = Attr("autoport", conv=YESNO)
    listen = Attr("listen")
    listen_type = Attr("type", "listen")
    listen_address = Attr("address", "listen")
    keymap = Attr("keymap")


class Sound(Device):
    kind = "sound"
    model = Attr("model")


class Video(Device):
    kind = "video"
    model_type = Attr("type", "model")
    ram = Attr("ram", "model", INT)
    vram = Attr("vram", "model", INT)
    vgamem = Attr("vgamem", "model", INT)
    heads = Attr("heads", "model", INT)
    primary = Attr("primary", "model", YESNO)


class Redirdev(Device):
    kind = "redirdev"
    bus = Attr("bus")


class Memballoon(Device):
    kind = "memballoon"
    model = Attr("model")


DEVICE_CLASSES: dict[str, type[Device]] = {
    cls.kind: cls
    for cls in (
        Disk,
        Interface,
        Controller,
        Serial,
        Parallel,
        Console,
        Channel,
        Input,
        Graphics,
        Sound,
        Video,
        Redirdev,
        Memballoon,
    )
}


def wrap_device(el: etree._Element) -> Device:
    return DEVICE_CLASSES.get(el.tag, Device)(el)


class Devices(SectionView):
    """The <devices> section: typed lists plus add/remove that keep devices grouped by kind."""

    emulator = Text("emulator")

    def __init__(self, parent: View) -> None:
        super().__init__(parent, "devices")

    # --- reading ----------------------------------------------------------------------------
    def all(self) -> list[Device]:
        el = self._node()
        if el is None:
            return []
        return [wrap_device(c) for c in element_children(el) if c.tag != "emulator"]

    def of_kind(self, tag: str) -> list[Device]:
        el = self._node()
        return [] if el is None else [wrap_device(c) for c in el.findall(tag)]

    @property
    def disks(self) -> list[Disk]:
        return self.of_kind("disk")  # type: ignore[return-value]

    @property
    def interfaces(self) -> list[Interface]:
        return self.of_kind("interface")  # type: ignore[return-value]

    @property
    def controllers(self) -> list[Controller]:
        return self.of_kind("controller")  # type: ignore[return-value]

    @property
    def serials(self) -> list[Serial]:
        return self.of_kind("serial")  # type: ignore[return-value]

    @property
    def consoles(self) -> list[Console]:
        return self.of_kind("console")  # type: ignore[return-value]

    @property
    def channels(self) -> list[Channel]:
        return self.of_kind("channel")  # type: ignore[return-value]

    @property
    def inputs(self) -> list[Input]:
        return self.of_kind("input")  # type: ignore[return-value]

    @property
    def graphics(self) -> list[Graphics]:
        return self.of_kind("graphics")  # type: ignore[return-value]

    @property
    def sounds(self) -> list[Sound]:
        return self.of_kind("sound")  # type: ignore[return-value]

    @property
    def videos(self) -> list[Video]:
        return self.of_kind("video")  # type: ignore[return-value]

    @property
    def redirdevs(self) -> list[Redirdev]:
        return self.of_kind("redirdev")  # type: ignore[return-value]

    @property
    def memballoon(self) -> Memballoon | None:
        found = self.of_kind("memballoon")
        return found[0] if found else None  # type: ignore[return-value]

    # --- writing ----------------------------------------------------------------------------
    def add_element(self, tag: str, attrs: dict[str, Any] | None = None) -> Device:
        """Add an empty <tag> after the existing devices of the same kind; returns its view."""
        clean = {k: check_text(str(v), f"{tag} {k}") for k, v in (attrs or {}).items() if v is not None}
        return wrap_device(insert_child(self._node(create=True), check_text(tag, "device tag"), clean))

    def remove(self, device: Device) -> None:
        el = self._node()
        if el is None or device.element.getparent() is not el:
            raise InvalidValueError("that device is not part of this domain")
        remove_element(device.element)

    @staticmethod
    def _sub(device: Device, tag: str, **attrs: Any) -> etree._Element:
        clean = {k: check_text(str(v), f"{device.tag} {tag} {k}") for k, v in attrs.items() if v is not None}
        return insert_child(device.element, tag, clean)

    def add_disk(
        self,
        source: str | None = None,
        *,
        target_dev: str,
        bus: str = "virtio",
        device: str = "disk",
        type: str = "file",
        driver_name: str = "qemu",
        driver_type: str | None = "raw",
        readonly: bool | None = None,
        boot_order: int | None = None,
        pool: str | None = None,
    ) -> Disk:
        """Add a disk. `source` is a path (file/block/dir) or a volume name when `pool` is set."""
        if pool is not None:
            type = "volume"
        disk = self.add_element("disk", {"type": type, "device": device})
        assert isinstance(disk, Disk)
        disk.device = device  # validates the choice
        self._sub(disk, "driver", name=driver_name, type=driver_type)
        if source is not None:
            if type == "volume":
                self._sub(disk, "source", pool=pool, volume=source)
            else:
                self._sub(disk, "source", **{Disk._SOURCE_ATTR.get(type, "file"): source})
        self._sub(disk, "target", dev=target_dev, bus=bus)
        if readonly if readonly is not None else device == "cdrom":
            disk.readonly = True
        if boot_order is not None:
            disk.boot_order = boot_order
        return disk

    def add_interface(
        self,
        type: str = "network",
        *,
        network: str | None = None,
        bridge: str | None = None,
        mac: str | None = None,
        model: str | None = "virtio",
        boot_order: int | None = None,
    ) -> Interface:
        iface = self.add_element("interface", {"type": type})
        assert isinstance(iface, Interface)
        if mac is not None:
            iface.mac = mac
        if type == "network":
            self._sub(iface, "source", network=network or "default")
        elif type == "bridge":
            if not bridge:
                raise InvalidValueError("a bridge interface needs a bridge name")
            self._sub(iface, "source", bridge=bridge)
        if model is not None:
            iface.model = model
        if boot_order is not None:
            iface.boot_order = boot_order
        return iface

    def add_controller(self, type: str, index: int | None = None, model: str | None = None) -> Controller:
        ctl = self.add_element("controller", {"type": type, "index": index, "model": model})
        return ctl  # type: ignore[return-value]

    def add_serial(self, type: str = "pty", port: int = 0) -> Serial:
        dev = self.add_element("serial", {"type": type})
        self._sub(dev, "target", port=port)
        return dev  # type: ignore[return-value]

    def add_console(self, type: str = "pty", target_type: str = "serial", port: int = 0) -> Console:
        dev = self.add_element("console", {"type": type})
        self._sub(dev, "target", type=target_type, port=port)
        return dev  # type: ignore[return-value]

    def add_channel(
        self,
        type: str = "unix",
        *,
        target_type: str = "virtio",
        target_name: str | None = None,
        source_path: str | None = None,
    ) -> Channel:
        dev = self.add_element("channel", {"type": type})
        if source_path is not None:
            self._sub(dev, "source", mode="bind", path=source_path)
        self._sub(dev, "target", type=target_type, name=target_name)
        return dev  # type: ignore[return-value]

    def add_input(self, type: str, bus: str | None = None) -> Input:
        return self.add_element("input", {"type": type, "bus": bus})  # type: ignore[return-value]

    def add_graphics(
        self, type: str = "vnc", *, autoport: bool = True, port: int | None = None, listen: str | None = None
    ) -> Graphics:
        dev = self.add_element("graphics", {"type": type})
        assert isinstance(dev, Graphics)
        dev.port = -1 if autoport and port is None else port
        dev.autoport = autoport
        if listen is not None:
            dev.listen = listen
            self._sub(dev, "listen", type="address", address=listen)
        return dev

    def add_sound(self, model: str = "ich9") -> Sound:
        return self.add_element("sound", {"model": model})  # type: ignore[return-value]

    def add_video(self, model_type: str = "virtio", **model_attrs: Any) -> Video:
        dev = self.add_element("video")
        self._sub(dev, "model", type=model_type, **model_attrs)
        return dev  # type: ignore[return-value]

    def add_redirdev(self, bus: str = "usb", type: str = "spicevmc") -> Redirdev:
        return self.add_element("redirdev", {"bus": bus, "type": type})  # type: ignore[return-value]

    def set_memballoon(self, model: str) -> Memballoon:
        """libvirt allows one <memballoon>: change it in place, or add it."""
        existing = self.memballoon
        if existing is not None:
            existing.model = model
            return existing
        return self.add_element("memballoon", {"model": model})  # type: ignore[return-value]


__all__ = [
    "Channel",
    "CharDevice",
    "Console",
    "Controller",
    "Device",
    "Devices",
    "Disk",
    "Graphics",
    "Input",
    "Interface",
    "Memballoon",
    "Parallel",
    "Redirdev",
    "Serial",
    "Sound",
    "Video",
    "wrap_device",
]
