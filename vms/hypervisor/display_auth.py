"""The relay's side of the VNC (RFB) and SPICE handshakes: it authenticates to the display with the VM's
password, and the browser never sees that password.

No Django here. Every VM gets its own random display password (vms/domainxml/vm.py); the relay reads it
from the live XML (VIR_DOMAIN_XML_SECURE) and answers the display's challenge itself:

- VNC (RFC 6143): the relay does the RFB 3.8 handshake with QEMU (security type 2, VNC Authentication:
  the 16-byte challenge DES-encrypted with the password, or type 1 None for a display without one),
  then offers the browser (noVNC) RFB 3.8 with security type 1 (None). From ClientInit on, bytes are
  copied both ways unchanged.
- SPICE: each channel connection starts with a link message (SpiceLinkHeader "REDQ" + SpiceLinkMess);
  the server's SpiceLinkReply carries a 1024-bit RSA public key (X.509 SubjectPublicKeyInfo, DER, 162
  bytes), and the client then sends the ticket: the password plus a NUL, RSA-OAEP(SHA-1)-encrypted
  (128 bytes), after a 4-byte auth mechanism when the client announced PROTOCOL_AUTH_SELECTION. The
  relay forwards the link message and the reply, replaces the browser's ticket with its own encryption
  of the VM's password, then copies bytes.

The browser side is given as two coroutines: `read(n)` (exactly n bytes from the browser) and
`send(data)` (bytes to the browser). The display side is an asyncio stream pair.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, modes

ReadBrowser = Callable[[int], Awaitable[bytes]]
SendBrowser = Callable[[bytes], Awaitable[None]]


class DisplayAuthError(Exception):
    """The handshake with the display (or the browser) failed. `kind`: "refused" (the display refused
    our password or gave a reason), "unsupported" (a version or security type we do not speak),
    "protocol" (bytes that make no sense), "closed" (a side went away). `detail` is the display's
    own reason when it gave one (English, from QEMU)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}" if detail else kind)


async def _read_display(reader: asyncio.StreamReader, count: int) -> bytes:
    try:
        return await reader.readexactly(count)
    except asyncio.IncompleteReadError as exc:
        raise DisplayAuthError("closed", "the display closed the connection") from exc


async def _write_display(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


# --- VNC --------------------------------------------------------------------------------------------
RFB_VERSION = b"RFB 003.008\n"
SECURITY_NONE = 1
SECURITY_VNC_AUTH = 2
VNC_PASSWORD_BYTES = 8  # VNC Authentication keys DES with the first 8 bytes of the password
_MAX_REASON = 4096


def _reverse_bits(byte: int) -> int:
    return int(f"{byte:08b}"[::-1], 2)


def vnc_auth_response(challenge: bytes, password: str) -> bytes:
    """RFC 6143 7.2.2: the 16-byte challenge encrypted with DES (ECB), keyed by the password's first 8
    bytes (zero-padded), each key byte bit-reversed as VNC does. DES is TripleDES with the key repeated."""
    if len(challenge) != 16:
        raise ValueError("a VNC challenge is 16 bytes")
    key = password.encode("latin-1", errors="replace")[:VNC_PASSWORD_BYTES].ljust(VNC_PASSWORD_BYTES, b"\0")
    key = bytes(_reverse_bits(b) for b in key)
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()  # noqa: S305 (RFB's DES, by protocol)
    return encryptor.update(challenge) + encryptor.finalize()


def _rfb_version(data: bytes) -> tuple[int, int]:
    if len(data) != 12 or not data.startswith(b"RFB ") or data[7:8] != b"." or data[11:12] != b"\n":
        raise DisplayAuthError("protocol", "not an RFB version string")
    try:
        return int(data[4:7]), int(data[8:11])
    except ValueError as exc:
        raise DisplayAuthError("protocol", "not an RFB version string") from exc


async def _rfb_reason(reader: asyncio.StreamReader) -> str:
    (length,) = struct.unpack(">I", await _read_display(reader, 4))
    return (await _read_display(reader, min(length, _MAX_REASON))).decode("utf-8", errors="replace")


async def vnc_authenticate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, password: str | None) -> None:
    """RFB 3.8 up to (not including) ClientInit, with the display: version, security, result.

    Picks None if the display offers it, else VNC Authentication with `password`. Raises DisplayAuthError.
    """
    if _rfb_version(await _read_display(reader, 12)) < (3, 8):
        raise DisplayAuthError("unsupported", "the display speaks an RFB version older than 3.8")
    await _write_display(writer, RFB_VERSION)
    (count,) = await _read_display(reader, 1)
    if count == 0:
        raise DisplayAuthError("refused", await _rfb_reason(reader))
    offered = await _read_display(reader, count)
    if SECURITY_NONE in offered:
        await _write_display(writer, bytes([SECURITY_NONE]))
    elif SECURITY_VNC_AUTH in offered and password:
        await _write_display(writer, bytes([SECURITY_VNC_AUTH]))
        challenge = await _read_display(reader, 16)
        await _write_display(writer, vnc_auth_response(challenge, password))
    elif SECURITY_VNC_AUTH in offered:
        raise DisplayAuthError("refused", "the display asks for a password and the VM has none")
    else:
        raise DisplayAuthError("unsupported", f"security types {list(offered)}")
    (result,) = struct.unpack(">I", await _read_display(reader, 4))
    if result != 0:
        raise DisplayAuthError("refused", await _rfb_reason(reader))


async def vnc_greet_browser(read: ReadBrowser, send: SendBrowser) -> None:
    """The browser's RFB 3.8 handshake, as a server that asks for nothing (security type None).

    Leaves the browser at ClientInit, which the relay forwards to the display it authenticated to.
    """
    await send(RFB_VERSION)
    if _rfb_version(await read(12)) != (3, 8):
        raise DisplayAuthError("unsupported", "the viewer does not speak RFB 3.8")
    await send(bytes([1, SECURITY_NONE]))
    (chosen,) = await read(1)
    if chosen != SECURITY_NONE:
        raise DisplayAuthError("protocol", "the viewer chose a security type that was not offered")
    await send(struct.pack(">I", 0))  # SecurityResult OK (sent for None too since RFB 3.8)


# --- SPICE ------------------------------------------------------------------------------------------
SPICE_MAGIC = b"REDQ"
SPICE_TICKET_PUBKEY_BYTES = 162  # DER SubjectPublicKeyInfo of a 1024-bit RSA key
SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION = 0
SPICE_COMMON_CAP_AUTH_SPICE = 1
SPICE_COMMON_CAP_MINI_HEADER = 3
SPICE_LINK_ERR_OK = 0
SPICE_CHANNEL_DISPLAY = 2
SPICE_MSGC_DISPLAY_INIT = 101
_MAX_LINK_BYTES = 64 * 1024
_LINK_MESS_FIXED = 18  # connection_id u32, channel_type u8, channel_id u8, 3 x u32


def _link_header(data: bytes) -> int:
    """The size of the body after a SpiceLinkHeader (magic, major, minor, size; little-endian)."""
    if data[:4] != SPICE_MAGIC:
        raise DisplayAuthError("protocol", "not a SPICE link header")
    _major, _minor, size = struct.unpack("<III", data[4:16])
    if size > _MAX_LINK_BYTES:
        raise DisplayAuthError("protocol", "SPICE link message too long")
    return size


def _first_common_caps(link_mess: bytes) -> int:
    """The first word of a client's common capabilities in its SpiceLinkMess (0 when it lists none)."""
    if len(link_mess) < _LINK_MESS_FIXED:
        raise DisplayAuthError("protocol", "SPICE link message too short")
    num_common, _num_channel, caps_offset = struct.unpack("<III", link_mess[6:18])
    if num_common == 0 or caps_offset + 4 > len(link_mess):
        return 0
    return struct.unpack("<I", link_mess[caps_offset : caps_offset + 4])[0]


def wants_auth_selection(link_mess: bytes) -> bool:
    """Whether a client's SpiceLinkMess announces PROTOCOL_AUTH_SELECTION (then it sends a 4-byte auth
    mechanism before the ticket)."""
    return bool(_first_common_caps(link_mess) & (1 << SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION))


@dataclass(frozen=True)
class SpiceChannel:
    """What the relay learnt from a channel's link: its type, and whether messages use the mini header."""

    channel_type: int
    mini_header: bool

    @property
    def must_settle(self) -> bool:
        """Whether this channel must not close before the display answered its client's init.

        spice-server 0.15 (Debian 12) dereferences NULL in its display worker, and QEMU dies with the
        guest, when a display channel closes before the server has handled the client's DISPLAY_INIT
        (measured here: closed with no init, or within a few ms of it, the guest crashed every time;
        once the server answered the init, about 40 ms after it, never). spice-html5 sends the init
        at once, but a tab closed in that moment would crash the guest.
        """
        return self.channel_type == SPICE_CHANNEL_DISPLAY and self.mini_header

    @staticmethod
    def display_init() -> bytes:
        """The DISPLAY_INIT a client sends after the link, without caches (pixmap cache and GLZ
        dictionary of size 0): what the relay sends for a browser that left before sending its own."""
        body = struct.pack("<BqBi", 0, 0, 0, 0)
        return struct.pack("<HI", SPICE_MSGC_DISPLAY_INIT, len(body)) + body


def spice_ticket(public_key_der: bytes, password: str) -> bytes:
    """The ticket a SPICE client sends: password + NUL, RSA-OAEP (SHA-1, MGF1 SHA-1) with the server's key."""
    key = serialization.load_der_public_key(public_key_der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise DisplayAuthError("protocol", "the SPICE server's key is not an RSA key")
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303
    return key.encrypt(password.encode() + b"\0", oaep)


async def spice_link(
    read: ReadBrowser,
    send: SendBrowser,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    password: str | None,
) -> SpiceChannel | None:
    """One SPICE channel's link and ticket, the browser's ticket replaced by one made with `password`.

    The display's answer to the ticket is relayed before it returns; everything after that is copied as
    it comes. None: the display refused the link or the ticket (the browser has its reason).
    """
    header = await read(16)
    mess = await read(_link_header(header))
    caps = _first_common_caps(mess)
    auth_selection = bool(caps & (1 << SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION))
    channel = SpiceChannel(channel_type=mess[4], mini_header=bool(caps & (1 << SPICE_COMMON_CAP_MINI_HEADER)))
    await _write_display(writer, header + mess)

    reply_header = await _read_display(reader, 16)
    reply = await _read_display(reader, _link_header(reply_header))
    await send(reply_header + reply)
    if len(reply) < 4 + SPICE_TICKET_PUBKEY_BYTES:
        raise DisplayAuthError("protocol", "SPICE link reply too short")
    (error,) = struct.unpack("<I", reply[:4])
    if error != SPICE_LINK_ERR_OK:
        return None  # the display refused the link (version, channel): it closes, the browser reads why
    try:
        ticket = spice_ticket(reply[4 : 4 + SPICE_TICKET_PUBKEY_BYTES], password or "")
    except ValueError as exc:  # a key that does not load, a password too long for OAEP
        raise DisplayAuthError("protocol", str(exc)) from exc
    if auth_selection:
        mechanism = await read(4)
        if struct.unpack("<I", mechanism)[0] != SPICE_COMMON_CAP_AUTH_SPICE:
            raise DisplayAuthError("unsupported", "only SPICE ticket authentication is relayed")
        await _write_display(writer, mechanism)
    await read(len(ticket))  # the browser's own ticket (it knows no password): dropped
    await _write_display(writer, ticket)
    result = await _read_display(reader, 4)
    await send(result)
    return channel if struct.unpack("<I", result)[0] == SPICE_LINK_ERR_OK else None
