"""Low-level tree edits: where new elements go, and keeping the document's indentation.

libvirt's schema fixes the order of some children (and libvirt always writes them in one order),
so a new element is placed after the existing siblings that come before it in that order; for
<devices> the same rule groups a new disk after the existing disks, and so on. Elements whose
tag we do not know keep their place; a new unknown tag goes last.
"""

from __future__ import annotations

from lxml import etree

# libvirt's own output order (virDomainDefFormat and friends), parent tag -> child tags.
# fmt: off
CHILD_ORDER: dict[str, tuple[str, ...]] = {
    "domain": (
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
        "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
        "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo", "bootloader",
        "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot",
        "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap",
        "launchSecurity",
    ),
    "os": (
        "type", "firmware", "loader", "nvram", "init", "initarg", "initenv", "initdir", "inituser",
        "initgroup", "kernel", "initrd", "cmdline", "shim", "dtb", "acpi", "boot", "bootmenu",
        "smbios", "bios",
    ),
    "cpu": ("model", "vendor", "topology", "cache", "maxphysaddr", "feature", "numa"),
    "clock": ("timer",),
    "devices": (
        "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
        "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video",
        "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "panic",
        "shmem", "memory", "iommu", "vsock", "crypto",
    ),
    "disk": (
        "driver", "source", "backingStore", "backenddomain", "target", "iotune", "blockio",
        "readonly", "shareable", "transient", "serial", "wwn", "vendor", "product", "encryption",
        "boot", "alias", "address",
    ),
    "interface": (
        "mac", "source", "virtualport", "ip", "route", "script", "backenddomain", "target", "guest",
        "model", "driver", "backend", "filterref", "tune", "teaming", "link", "mtu", "coalesce",
        "boot", "rom", "alias", "address",
    ),
}
# fmt: on

INDENT = "  "


def is_element(node: object) -> bool:
    # Comments and processing instructions are nodes too, but their .tag is not a str.
    return isinstance(getattr(node, "tag", None), str)


def element_children(parent: etree._Element) -> list[etree._Element]:
    return [c for c in parent if is_element(c)]


def _rank(order: tuple[str, ...], tag: str) -> int | None:
    try:
        return order.index(tag)
    except ValueError:
        return None


def _depth(el: etree._Element) -> int:
    return sum(1 for _ in el.iterancestors())


def _is_blank(text: str | None) -> bool:
    return text is None or not text.strip()


def _place(parent: etree._Element, new: etree._Element, index: int) -> None:
    """Insert `new` at `index` among parent's nodes and fix whitespace so output stays indented."""
    nodes = list(parent)
    parent.insert(index, new)
    if not _is_blank(parent.text) or any(not _is_blank(n.tail) for n in nodes):
        return  # mixed content: do not touch any text
    depth = _depth(parent)
    child_indent = "\n" + INDENT * (depth + 1)
    closing_indent = "\n" + INDENT * depth
    if not nodes:
        parent.text = child_indent
        new.tail = closing_indent
        return
    if index == 0:
        new.tail = parent.text if parent.text else child_indent
        if not parent.text:
            parent.text = child_indent
        return
    before = nodes[index - 1]
    if index == len(nodes):  # appended after the former last node
        new.tail = before.tail if before.tail is not None else closing_indent
        before.tail = parent.text if parent.text else child_indent
    else:
        new.tail = before.tail


def insertion_index(parent: etree._Element, tag: str) -> int:
    """Index at which a new child `tag` belongs, per CHILD_ORDER (append when unknown)."""
    nodes = list(parent)
    order = CHILD_ORDER.get(parent.tag) if isinstance(parent.tag, str) else None
    rank = _rank(order, tag) if order else None
    if rank is None:
        return len(nodes)
    after = None
    for i, node in enumerate(nodes):
        if not is_element(node):
            continue
        node_rank = _rank(order, node.tag)
        if node_rank is not None and node_rank <= rank:
            after = i
    if after is not None:
        return after + 1
    for i, node in enumerate(nodes):
        if is_element(node):
            node_rank = _rank(order, node.tag)
            if node_rank is not None and node_rank > rank:
                return i
    return len(nodes)


def insert_child(
    parent: etree._Element, tag: str, attrib: dict[str, str] | None = None, text: str | None = None
) -> etree._Element:
    """Create <tag> under parent at its ordered place and return it."""
    new = parent.makeelement(tag, attrib or {})
    if text is not None:
        new.text = text
    _place(parent, new, insertion_index(parent, tag))
    return new


def insert_element(parent: etree._Element, new: etree._Element) -> etree._Element:
    """Insert an already built element (e.g. one in another namespace) at its ordered place."""
    _place(parent, new, insertion_index(parent, new.tag))
    return new


def remove_element(el: etree._Element) -> None:
    """Detach `el`, handing its tail whitespace to the previous node so indentation survives."""
    parent = el.getparent()
    if parent is None:
        raise ValueError("cannot remove the root element")
    prev = el.getprevious()
    tail = el.tail
    if prev is not None:
        if _is_blank(prev.tail) and _is_blank(tail):
            prev.tail = tail
        elif tail:
            prev.tail = (prev.tail or "") + tail
    else:
        if _is_blank(parent.text) and _is_blank(tail):
            parent.text = tail if len(parent) > 1 else None
        elif tail:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def find_path(el: etree._Element | None, path: str) -> etree._Element | None:
    """First descendant along a '/'-separated path of plain tags, or None."""
    for step in path.split("/") if path else ():
        if el is None:
            return None
        el = el.find(step)
    return el


def ensure_path(el: etree._Element, path: str) -> etree._Element:
    """Like find_path, creating missing elements at their ordered place."""
    for step in path.split("/") if path else ():
        child = el.find(step)
        el = child if child is not None else insert_child(el, step)
    return el
