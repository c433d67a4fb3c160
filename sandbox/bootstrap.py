"""Demo data for `make run`: an admin login, the sandbox hosts and a demo template.

Running it again changes nothing that is already there (the admin's password included).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from sandbox.demo_domain import demo_domain_xml
from sandbox.demo_guest import KERNEL_CMDLINE
from sandbox.fleet import SandboxHost
from vms.choices import BootMode, DiskFormat, DiskSource, Emulation
from vms.models import Host, VMTemplate

ADMIN_USERNAME = "admin"
DEMO_TEMPLATE_NAME = "Demo guest"


@dataclass
class AdminLogin:
    username: str
    password: str
    created: bool


def ensure_admin(password_file: Path) -> AdminLogin:
    """Create the admin once, keep its generated password in var/ (0600) so it can be printed again."""
    User = get_user_model()
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    if user is not None:
        password = password_file.read_text().strip() if password_file.exists() else "(set earlier; not stored)"
        return AdminLogin(ADMIN_USERNAME, password, False)
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(ADMIN_USERNAME, "admin@localhost", password)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.touch(mode=0o600)
    password_file.write_text(password + "\n")
    return AdminLogin(ADMIN_USERNAME, password, True)


@transaction.atomic
def register_sandbox_hosts(hosts: list[SandboxHost]) -> list[Host]:
    registered = []
    for sandbox_host in hosts:
        host, _created = Host.objects.update_or_create(
            name=sandbox_host.name,
            # /dev/kvm on these machines accepts a guest but never runs it: emulate in software.
            defaults={
                "uri": sandbox_host.uri,
                "emulation": Emulation.QEMU,
                "notes": "Sandbox host on this machine (manage.py sandbox).",
            },
        )
        registered.append(host)
    return registered


def check_all(hosts: list[Host]) -> None:
    from vms.services.hosts import check_host

    for host in hosts:
        check_host(host)


def ensure_demo_template() -> VMTemplate:
    xml = demo_domain_xml("demo", None, KERNEL_CMDLINE)
    template, _created = VMTemplate.objects.get_or_create(
        name=DEMO_TEMPLATE_NAME,
        defaults={
            "description": "A tiny Linux that boots in seconds to a shell on the serial console.",
            "domain_xml": xml,
            "boot_mode": BootMode.KERNEL,
            "default_vcpus": 1,
            "max_vcpus": 2,
            "default_memory_mib": 128,
            "max_memory_mib": 512,
            "default_disk_gib": 1,
            "max_disk_gib": 4,
            "disk_source": DiskSource.EMPTY,
            "disk_format": DiskFormat.QCOW2,
        },
    )
    return template
