"""A VM's graphical display as the live domain XML describes it, and virt-viewer files for it.

No Django here. The live XML (`XMLDesc` of a running domain) is the only place that knows the port an
`autoport` display got; the XML stored in the database never does. Reading it is a libvirt call: run
`live_graphics` in a worker thread, never on an event loop or while rendering a page.

Addresses: libvirt reports where QEMU *listens on the host*. "127.0.0.1" there means the host's own
loopback. The relay runs on the web server, so it must never take a listen address as it is: on a
remote host, 127.0.0.1 would reach the web server's own loopback (another VM's display, Redis), and
any other address whatever the domain XML names. `relay_address` is the rule: for a URI with a host
name, only that host (a wildcard listen or a listen equal to it, compared by resolved IP); for a local
URI, only loopback. `listen_address_for` is where a new VM's display listens, so the rule allows it.
"""

from __future__ import annotations

import configparser
import io
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import libvirt
from lxml import etree

from vms.hypervisor import domains
from vms.hypervisor.connection import connection
from vms.hypervisor.errors import wrap
from vms.hypervisor.ssh import SSH_SCHEMES
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
    password: str | None = field(repr=False)  # only in XML read with VIR_DOMAIN_XML_SECURE; never logged
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
    """The address a *native client* (the `.vv` file) is told: where the display listens on the host.

    A wildcard means "any address of that host": use the host's name from the URI (loopback for local
    URIs). A concrete address is used as it is, even 127.0.0.1: that is the host's own loopback, which
    the client reaches through an SSH tunnel. Never used by the relay: see `relay_address`.
    """
    if listen is None:
        return None
    if listen in WILDCARDS:
        host = urlsplit(uri).hostname
        return host or "127.0.0.1"
    return listen.strip("[]")


# --- the relay's address rule ----------------------------------------------------------------------
LOOPBACK = "127.0.0.1"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]


class DisplayRefused(Exception):
    """The relay will not connect where this display listens. `reason`, for the sentence shown:

    - "not-host": the URI names a host and the display does not listen on that host's address;
    - "not-loopback": a local URI (no host name) and the display does not listen on loopback;
    - "unresolved": the URI's host name does not resolve to an address.
    `listen` is the address the domain XML names, `host` the host name or address from the URI.
    """

    def __init__(self, reason: str, listen: str, host: str) -> None:
        self.reason = reason
        self.listen = listen
        self.host = host
        super().__init__(f"display listening on {listen!r} refused for host {host!r}: {reason}")


def _ip(text: str) -> IPAddress | None:
    """An IP literal (IPv4-mapped IPv6 read as IPv4, brackets allowed), None for a name."""
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def resolve_host(host: str) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order. Blocking (DNS): call it in a thread."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _addresses_of(host: str, resolve: Resolver) -> list[IPAddress]:
    literal = _ip(host)
    if literal is not None:
        return [literal]
    try:
        found = [ip for ip in (_ip(address) for address in resolve(host)) if ip is not None]
    except (OSError, UnicodeError):
        found = []
    return list(dict.fromkeys(found))


def _prefer_ipv4(addresses: list[IPAddress]) -> IPAddress:
    return next((ip for ip in addresses if ip.version == 4), addresses[0])


def relay_address(listen: str | None, uri: str, resolve: Resolver = resolve_host) -> str | None:
    """The one address the relay may connect to for a display listening on `listen` on `uri`'s host.

    None when the display has no network listener (a UNIX socket, `listen type='none'`). Raises
    DisplayRefused for any other address than these:
    - an SSH URI (qemu+ssh://HOST/...): the relay connects *through HOST's sshd* (vms.hypervisor.tunnel),
      so the address returned is evaluated on HOST. A loopback or wildcard listen gives 127.0.0.1 (HOST's
      own loopback); a listen equal to HOST (by name or address) gives that address; anything else is
      refused (another machine, reached from HOST).
    - a URI with a host name (qemu+tcp/tls://HOST/...): HOST only. A wildcard listen (0.0.0.0,
      ::, none given) or a listen equal to HOST, by name or by one of HOST's addresses, gives HOST's
      address; anything else is refused, 127.0.0.1 included (that would be the web server's own
      loopback). Only HOST is resolved (`resolve`, once: the address returned is the one compared),
      never the listen value.
    - a local URI (qemu:///system): loopback addresses only; a wildcard gives 127.0.0.1.
    """
    if listen is None:
        return None
    value = listen.strip()
    wildcard = value in WILDCARDS
    listen_ip = None if wildcard else _ip(value)
    loopback = value.lower() == "localhost" or (listen_ip is not None and listen_ip.is_loopback)
    parts = urlsplit(uri)
    host = parts.hostname
    if not host:
        if wildcard or value.lower() == "localhost":
            return LOOPBACK
        if loopback:
            return str(listen_ip)
        raise DisplayRefused("not-loopback", value, "")
    if parts.scheme in SSH_SCHEMES and (wildcard or loopback):
        return LOOPBACK  # the host's own, through its sshd
    addresses = _addresses_of(host, resolve)
    if not addresses:
        raise DisplayRefused("unresolved", value, host)
    if wildcard:
        return str(_prefer_ipv4(addresses) if value == "0.0.0.0" else addresses[0])  # noqa: S104
    if value.lower() == host.lower():
        return str(addresses[0])
    if listen_ip is not None and listen_ip in addresses:
        return str(listen_ip)
    raise DisplayRefused("not-host", value, host)


def through_ssh(uri: str) -> bool:
    """Whether the relay reaches this host's displays through its sshd rather than directly."""
    return urlsplit(uri).scheme in SSH_SCHEMES


def listen_address_for(uri: str, resolve: Resolver = resolve_host) -> str:
    """Where a new VM's display listens on the host behind `uri`: an address `relay_address` allows.

    qemu+tcp/tls (and qemu://HOST): the URI host's address (resolved here, IPv4 first; the name itself
    if it does not resolve), so QEMU listens on exactly the address the relay connects to. Local URIs
    and SSH hosts: the host's loopback (for SSH, the relay reaches it through the host's sshd).
    """
    parts = urlsplit(uri)
    host = parts.hostname
    if not host or parts.scheme in SSH_SCHEMES:
        return LOOPBACK
    addresses = _addresses_of(host, resolve)
    return str(_prefer_ipv4(addresses)) if addresses else host


def relay_target(
    uri: str, vm_uuid: str, types: tuple[str, ...] = SUPPORTED_TYPES, resolve: Resolver = resolve_host
) -> tuple[Graphics | None, str | None]:
    """The running domain's display (password included: read-write connection, VIR_DOMAIN_XML_SECURE)
    and the address the relay may connect to (None: no network listener).

    Blocking (libvirt, DNS): call it in a worker thread. Raises HypervisorError, DisplayRefused.
    """
    display = live_graphics(uri, vm_uuid, types, secure=True)
    if display is None or display.port is None:
        return display, None
    return display, relay_address(display.listen, uri, resolve)


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
