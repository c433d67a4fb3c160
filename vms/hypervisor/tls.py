"""What went wrong when a qemu+tls connection failed, from libvirt's words. No Django.

libvirt's error codes are generic (an authentication or system error), so the message is matched, as for
SSH (vms/hypervisor/ssh.py). Kinds, from the client's side:
"""

from __future__ import annotations

from urllib.parse import urlsplit

UNTRUSTED_CERTIFICATE = "untrusted-certificate"  # the host's certificate is not signed by our CA (or ours by its)
CLIENT_PKI_MISSING = "client-pki-missing"  # this server lacks the CA, its certificate or its key
_KINDS = [
    (
        UNTRUSTED_CERTIFICATE,
        ("Failed to verify peer's certificate", "certificate is not trusted", "Unable to read TLS confirmation"),
    ),
    (CLIENT_PKI_MISSING, ("Cannot read CA certificate", "Cannot read certificate", "Cannot read private key")),
]


def failure_kind(message: str, uri: str) -> str | None:
    """Which TLS failure a libvirt message about connecting to `uri` describes, or None."""
    if urlsplit(uri).scheme != "qemu+tls":
        return None
    for kind, needles in _KINDS:
        if any(needle.lower() in message.lower() for needle in needles):
            return kind
    return None
