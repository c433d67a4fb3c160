"""Certificates for the sandbox hosts' libvirtd TLS listeners: a CA of the sandbox's own, one server
certificate per host (its address in subjectAltName, which libvirt's client checks), one client
certificate. Files are laid out as libvirt expects them in a `pkipath` directory (cacert.pem,
clientcert.pem, clientkey.pem), so `qemu+tls://ADDR/system?pkipath=DIR` works with any libvirt client.

Development only: the CA key sits next to the certificates, unprotected.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "KVM dashboard sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


class SandboxCA:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.cert_file = directory / "cacert.pem"
        self.key_file = directory / "cakey.pem"

    def ensure(self) -> None:
        if self.cert_file.exists() and self.key_file.exists():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("KVM dashboard sandbox CA"))
            .issuer_name(_name("KVM dashboard sandbox CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        _write_key(self.key_file, key)
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, directory: Path, common_name: str, *, server_ip: str | None = None) -> tuple[Path, Path]:
        """A certificate and key in `directory`: a server's (servercert.pem, serverkey.pem, for `server_ip`)
        or the client's (clientcert.pem, clientkey.pem). Kept when present: hosts restart with the same."""
        self.ensure()
        role = "server" if server_ip else "client"
        cert_file, key_file = directory / f"{role}cert.pem", directory / f"{role}key.pem"
        if cert_file.exists() and key_file.exists():
            return cert_file, key_file
        directory.mkdir(parents=True, exist_ok=True)
        ca_cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_ip else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server_ip:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(server_ip))]), critical=False
            )
        cert = builder.sign(_load_key(self.key_file), hashes.SHA256())
        _write_key(key_file, key)
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        # libvirt's pkipath layout wants the CA next to the client's pair.
        (directory / "cacert.pem").write_bytes(self.cert_file.read_bytes())
        return cert_file, key_file
