"""libvirt URIs: what we accept and how we show them."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

SCHEMES = ("qemu", "qemu+ssh", "qemu+tls", "qemu+tcp", "qemu+unix", "qemu+libssh2", "test")
# The query parameters a real deployment needs. Others are refused: `command=` makes libvirt run a
# program on this machine, `socket=`/`netcat=` reach any local socket or program, `name=` changes the
# URI the daemon sees.
ALLOWED_PARAMETERS = ("keyfile", "known_hosts", "known_hosts_verify", "no_verify", "no_tty", "pkipath", "sshauth")


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


def check_uri(uri: str, *, allow_test_driver: bool = False) -> str:
    """Refuse what libvirt would misread, what could act on this machine, or what is not a KVM host URI.

    `test:` URIs (libvirt's in-process test driver, which reads any local file it is given) only where
    the deployment allows them (tests and benchmarks).
    """
    uri = uri.strip()
    if not uri or any(ord(ch) < 32 for ch in uri) or " " in uri:
        raise BadURI("A libvirt URI cannot be empty or contain spaces or control characters.")
    parts = urlsplit(uri)
    if parts.scheme == "test" and not allow_test_driver:
        raise BadURI(
            "test: URIs name libvirt's test driver, which is not a KVM host; they are refused unless "
            "LIBVIRT_ALLOW_TEST_DRIVER=true (tests and benchmarks only)."
        )
    if parts.scheme == "test" and parts.path not in ("/default", ""):
        raise BadURI("Only test:///default is accepted: the test driver would read the file a test: URI names.")
    if parts.fragment:
        raise BadURI("A libvirt URI has no '#' part.")
    for name, _value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in ALLOWED_PARAMETERS:
            raise BadURI(
                f"The URI parameter '{name}' is not allowed (it could run programs or reach sockets on this "
                f"machine); allowed: {', '.join(ALLOWED_PARAMETERS)}."
            )
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
