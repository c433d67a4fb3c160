"""A VM's graphical display as the live domain XML describes it, and virt-viewer files for it.

No Django here. The live XML (`XMLDesc` of a running domain) is the only place that knows the port an
`autoport` display got; the XML stored in the database never does. Reading it is a libvirt call: run
`live_graphics` in a worker thread, never on an event loop or while rendering a page.

Addresses: libvirt reports where QEMU *listens on the host*. "127.0.0.1" there means the host's own
loopback: reachable from the web server (our relay) or a native client only when they run on that
host (as with the sandbox fleet) or through a tunnel. A wildcard listen (0.0.0.0, ::) is reached at
the host's name from its libvirt URI.
"""

from __future__ import annotations

import configparser
import io
from dataclasses import dataclass
from urllib.parse import urlsplit

import libvirt
from lxml import etree

from vms.hypervisor import domains
from vms.hypervisor.connection import connection
from vms.hypervisor.errors import wrap
from vms.hypervisor.uris import safe_uri

SUPPORTED_TYPES = ("vnc", "spice")
WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 (we read it, we do not bind it)
# libvirt's XML is trusted, but a parser that never fetches or expands anything costs nothing.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class Graphics:
    type: str  # "vnc" or "spice"
    port: int | None  # None: not running yet, autoport not resolved, or no TCP listener
    tls_port: int | None  # SPICE only
    listen: str | None  # the address QEMU listens on, None for a socket or "none" listen
    socket: str | None  # a UNIX socket path on the host instead of TCP
    password: str | None  # only present in XML read with VIR_DOMAIN_XML_SECURE
    autoport: bool

    @property
    def reachable_over_tcp(self) -> bool:
        return self.port is not None and self.listen is not None


def _port(value: str | None) -> int | None:
    try:
        port = int(value) if value is not None else -1
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def _graphics_from_element(el: etree._Element) -> Graphics:
    listen: str | None = el.get("listen")
    socket_path: str | None = el.get("socket")
    for child in el.findall("listen"):
        kind = child.get("type", "address")
        if kind in ("address", "network"):
            listen = child.get("address", listen)
            break
        if kind == "socket":
            socket_path, listen = child.get("socket"), None
            break
        if kind == "none":
            listen = None
            break
    else:
        if listen is None and socket_path is None:
            listen = ""  # no listen given: QEMU's default, all addresses or loopback per qemu.conf
    port = _port(el.get("port"))
    return Graphics(
        type=el.get("type", ""),
        port=port if listen is not None else None,
        tls_port=_port(el.get("tlsPort")),
        listen=listen,
        socket=socket_path,
        password=el.get("passwd"),
        autoport=el.get("autoport") == "yes",
    )


def graphics_in(xml: str | bytes) -> list[Graphics]:
    """Every VNC/SPICE display of a domain XML, in document order."""
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml, _PARSER)
    return [_graphics_from_element(el) for el in root.findall("devices/graphics") if el.get("type") in SUPPORTED_TYPES]


def first_graphics(xml: str | bytes, types: tuple[str, ...] = SUPPORTED_TYPES) -> Graphics | None:
    return next((g for g in graphics_in(xml) if g.type in types), None)


def connect_address(listen: str | None, uri: str) -> str | None:
    """Where to connect for a display that listens on `listen` on the host behind `uri`.

    A wildcard means "any address of that host": use the host's name from the URI (loopback for local
    URIs). A concrete address is used as it is, even 127.0.0.1: that is the host's own loopback.
    """
    if listen is None:
        return None
    if listen in WILDCARDS:
        host = urlsplit(uri).hostname
        return host or "127.0.0.1"
    return listen.strip("[]")


def live_graphics(
    uri: str, vm_uuid: str, types: tuple[str, ...] = SUPPORTED_TYPES, secure: bool = False
) -> Graphics | None:
    """The running domain's first display of one of `types`; None when it is not running or has none.

    `secure` asks libvirt for the password too (needs a read-write connection). Blocking: call it in a
    worker thread. Raises HypervisorError (HostUnreachable, ...) when the host cannot answer.
    """
    with connection(uri) as conn:
        dom = domains.find_by_uuid(conn, vm_uuid)
        if dom is None:
            return None
        try:
            if not dom.isActive():
                return None
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE if secure else 0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise wrap(exc, f"read the display of domain {vm_uuid}", f"host {safe_uri(uri)}") from exc
    return first_graphics(xml, types)


# --- virt-viewer files -----------------------------------------------------------------------------
def _keyfile_value(value: str) -> str:
    """Escape a value the way GLib's GKeyFile (virt-viewer's reader) reads it back.

    configparser writes values verbatim: a newline would start a continuation line and a backslash
    would be taken as an escape by GKeyFile. So escape them; control characters other than tab, CR and
    LF have no place in a title and are dropped.
    """
    out = []
    for i, ch in enumerate(value):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == " " and i == 0:
            out.append("\\s")  # GKeyFile strips leading spaces otherwise
        elif ord(ch) < 32 or ord(ch) == 127:
            continue
        else:
            out.append(ch)
    return "".join(out)


def virt_viewer_file(graphics: Graphics, host: str, title: str, *, include_password: bool = True) -> str:
    """The text of a `.vv` file (virt-viewer's "connection file") for a native VNC/SPICE client.

    Built with configparser, every value escaped for GKeyFile: the title is a user's VM name.
    `delete-this-file=1` asks remote-viewer to delete the file once read (it may hold a password).
    """
    if graphics.port is None and graphics.tls_port is None:
        raise ValueError("this display has no TCP port")
    section: dict[str, str] = {"type": graphics.type, "host": host}
    if graphics.port is not None:
        section["port"] = str(graphics.port)
    if graphics.type == "spice" and graphics.tls_port is not None:
        section["tls-port"] = str(graphics.tls_port)
    if include_password and graphics.password:
        section["password"] = graphics.password
    section["title"] = title
    section["delete-this-file"] = "1"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep keys as written (configparser lowercases by default)
    parser["virt-viewer"] = {key: _keyfile_value(value) for key, value in section.items()}
    buffer = io.StringIO()
    parser.write(buffer, space_around_delimiters=False)
    return buffer.getvalue()
