"""libvirt URIs: what we accept and how we show them."""

from __future__ import annotations

from urllib.parse import urlsplit

SCHEMES = ("qemu", "qemu+ssh", "qemu+tls", "qemu+tcp", "qemu+unix", "qemu+libssh2", "test")


class BadURI(ValueError):
    pass


def safe_uri(uri: str) -> str:
    """The URI without a password or query (keyfile paths, tokens) for messages and pages."""
    parts = urlsplit(uri)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    # Built by hand: urlunsplit drops the '//' of 'test:///default' when the host is empty.
    return f"{parts.scheme}://{netloc}{parts.path}"


def check_uri(uri: str) -> str:
    """Refuse what libvirt would misread or what is not a KVM host URI, with a reason."""
    uri = uri.strip()
    if not uri or any(ord(ch) < 32 for ch in uri) or " " in uri:
        raise BadURI("A libvirt URI cannot be empty or contain spaces or control characters.")
    parts = urlsplit(uri)
    if parts.scheme not in SCHEMES:
        raise BadURI(
            f"'{parts.scheme or uri}' is not a supported libvirt URI scheme; use one of: {', '.join(SCHEMES)} "
            "(for example qemu+ssh://root@host/system)."
        )
    if parts.scheme.startswith("qemu") and parts.path not in ("/system", "/session"):
        raise BadURI("A QEMU URI must end in /system or /session, for example qemu+tcp://host/system.")
    if parts.scheme in ("qemu+ssh", "qemu+tls", "qemu+tcp", "qemu+libssh2") and not parts.hostname:
        raise BadURI(f"A {parts.scheme} URI needs a host name, for example {parts.scheme}://host/system.")
    return uri
