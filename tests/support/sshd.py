"""A real, throwaway OpenSSH server on 127.0.0.1 and a free port, for the SSH trust tests.

It is the Debian sshd, with its own config, host key, authorized_keys and pid file in a temporary
directory; `restart(new_host_key=True)` brings it back on the same port with another host key (a
reinstalled host, or someone in the middle). Logging in as root with the authorized key runs the
command libvirt asks for (virt-ssh-helper); no libvirtd answers behind it on this machine unless
`forced_command` says what runs instead.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from vms.hypervisor import ssh

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30)
    return path


def fingerprint_of(public_key_file: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key_file)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return out.split()[1]


class Sshd:
    def __init__(self, directory: Path, authorized_key: str, forced_command: str = "") -> None:
        self.dir = directory
        self.port = free_port()
        self.generation = 0
        self.process: subprocess.Popen | None = None
        self.set_authorized_key(authorized_key, forced_command)
        self._new_host_key()

    @property
    def host_key_file(self) -> Path:
        return self.dir / f"host_key_{self.generation}"

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(Path(f"{self.host_key_file}.pub"))

    def uri(self) -> str:
        return f"qemu+ssh://root@127.0.0.1:{self.port}/system"

    def set_authorized_key(self, public_key: str, forced_command: str = "") -> None:
        prefix = f'command="{forced_command}" ' if forced_command else ""
        (self.dir / "authorized_keys").write_text(prefix + public_key.strip() + "\n")

    def _new_host_key(self) -> None:
        self.generation += 1
        keygen(self.host_key_file)

    def start(self) -> None:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation directory
        config = self.dir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key_file}",
                    f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "StrictModes no",
                    "",
                ]
            )
        )
        log = (self.dir / "sshd.log").open("ab")
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError((self.dir / "sshd.log").read_text()) from None
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self, new_host_key: bool = False) -> None:
        self.stop()
        if new_host_key:
            self._new_host_key()
        self.start()


@pytest.fixture
def identity(tmp_path):
    """A key pair and known_hosts of this test's own, as the process's SSH identity."""
    previous = ssh.identity()
    made = ssh.ensure_identity(tmp_path / "identity")
    ssh.configure(made)
    yield made
    ssh.configure(previous)


@pytest.fixture
def sshd(tmp_path, identity):
    """An sshd that accepts `identity`'s key and runs /bin/false for it: no libvirtd answers behind it."""
    directory = tmp_path / "sshd"
    directory.mkdir()
    server = Sshd(directory, identity.public_key(), forced_command="/bin/false")
    server.start()
    yield server
    server.stop()
