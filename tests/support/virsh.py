"""virsh, the bare tool, run against a host as a test's independent witness.

Hosts are registered as qemu+ssh URIs; the `ssh` program that plain `virsh -c qemu+ssh://...` runs
knows nothing of the project's key or known_hosts, so tests hand virsh the URI the project opens
(`transport_uri`: `command=` our ssh wrapper, with our key and pinned host keys), which `manage.py sandbox
status` prints too.
"""

from __future__ import annotations

import subprocess

from vms.hypervisor import ssh


def virsh_uri(uri: str) -> str:
    return ssh.transport_uri(uri, ssh.identity())


def virsh_args(uri: str, *args: str) -> list[str]:
    return ["virsh", "-c", virsh_uri(uri), *args]


def virsh(uri: str, *args: str, timeout: float = 60) -> str:
    return subprocess.run(virsh_args(uri, *args), check=True, capture_output=True, text=True, timeout=timeout).stdout


def virsh_bytes(uri: str, *args: str, timeout: float = 60) -> bytes:
    return subprocess.run(virsh_args(uri, *args), check=True, capture_output=True, timeout=timeout).stdout
