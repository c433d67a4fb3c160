"""Demo data for `make run`: an admin login, the sandbox hosts and a demo template.

Running it again changes nothing that is already there (the admin's password included).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from sandbox.demo_domain import demo_domain_xml
from sandbox.demo_guest import KERNEL_CMDLINE, SCREEN_KERNEL_CMDLINE
from sandbox.fleet import SandboxHost
from sandbox.install import DEMO_INSTALLER_VOLUME
from sandbox.installer_domain import installer_domain_xml
from sandbox.installer_iso import build_installer_iso
from vms.choices import BootMode, CopyState, DiskFormat, DiskSource, Emulation, ImageFormat, ImageKind
from vms.models import Host, Image, ImageCopy, VMTemplate

ADMIN_USERNAME = "admin"
DEMO_TEMPLATE_NAME = "Demo guest"
SCREEN_TEMPLATE_NAME = "Demo guest with screen"
LAB_TEMPLATE_NAME = "Demo guest on the lab network"
INSTALL_TEMPLATE_NAME = "Install from ISO (demo)"
INSTALLER_IMAGE_NAME = "Demo installer"


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
        if not password_file.exists():
            return AdminLogin(ADMIN_USERNAME, "(set earlier; not stored)", False)
        with contextlib.suppress(OSError):  # a file left readable by an older version (or by hand) is closed
            os.chmod(password_file, 0o600)
        return AdminLogin(ADMIN_USERNAME, password_file.read_text().strip(), False)
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(ADMIN_USERNAME, "admin@localhost", password)
    _write_private(password_file, password + "\n")
    return AdminLogin(ADMIN_USERNAME, password, True)


def _write_private(path: Path, text: str) -> None:
    """Write `text` readable by this user only (0600), whatever the file's mode was and whatever the umask:
    written to a new 0600 file beside it, then moved over it (a symlink there is replaced, not followed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp makes it 0600
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    return _ensure_demo_template(
        DEMO_TEMPLATE_NAME,
        "A tiny Linux that boots in seconds to a shell on the serial console, with a network card on "
        "the host's NAT network `default`: it gets an address by DHCP (shown on its Network tab).",
        demo_domain_xml("demo", None, KERNEL_CMDLINE, network="default"),
    )


def ensure_lab_template() -> VMTemplate:
    """The demo guest with a NIC on br0, each sandbox host's bridge to the lab segment (the seed's
    br0 on em1): it gets an address from the lab's DHCP server and reaches the other lab guests."""
    return _ensure_demo_template(
        LAB_TEMPLATE_NAME,
        "The demo guest with a network card on br0, the sandbox's lab network: it gets an address by "
        "DHCP (shown on its console and on its page) and reaches the other guests there, on any host.",
        demo_domain_xml("demo-lab", None, KERNEL_CMDLINE, bridge="br0"),
    )


def _ensure_demo_template(name: str, description: str, xml: str) -> VMTemplate:
    template, _created = VMTemplate.objects.get_or_create(
        name=name,
        defaults={
            "description": description,
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


def ensure_screen_template() -> VMTemplate:
    """The demo guest with a VGA screen on VNC: the kernel and the demo's shell print there too."""
    return _ensure_demo_template(
        SCREEN_TEMPLATE_NAME,
        "The demo guest with a screen: open its graphical console (VNC) in the browser.",
        demo_domain_xml("demo-screen", None, SCREEN_KERNEL_CMDLINE, screen=True),
    )


def installer_iso_dir() -> Path:
    return Path(settings.VAR_DIR) / "demo-installer"


def ensure_installer_image(hosts: list[Host]) -> Image:
    """The demo installer ISO in the image library, published to users, with a ready copy on each of
    `hosts`: `manage.py sandbox up` put it into every sandbox host's default pool under the same volume
    name, as the image.copy job would have. Kept up to date when the ISO is rebuilt."""
    from vms.services.images import images_dir, inspect_file

    iso = build_installer_iso(installer_iso_dir(), settings.DEMO_GUEST_DIR)  # cached: built by sandbox up
    dest = images_dir() / DEMO_INSTALLER_VOLUME
    image = Image.objects.filter(name=INSTALLER_IMAGE_NAME).first()
    if image is None or image.sha256 != iso.sha256 or not dest.exists():
        # The library's own checks (ISO 9660 signature, what qemu-img reads it as), as for an upload.
        inspect_file(iso.path, ImageFormat.ISO)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(iso.path, tmp)
        os.chmod(tmp, 0o640)
        os.replace(tmp, dest)
    with transaction.atomic():
        image, _created = Image.objects.update_or_create(
            name=INSTALLER_IMAGE_NAME,
            defaults={
                "kind": ImageKind.ISO,
                "format": ImageFormat.ISO,
                "size": iso.size,
                "virtual_size": iso.size,
                "sha256": iso.sha256,
                "file": dest.name,
                "volume": DEMO_INSTALLER_VOLUME,
                "published": True,
            },
        )
        for host in hosts:
            ImageCopy.objects.update_or_create(
                image=image,
                host=host,
                defaults={"volume": DEMO_INSTALLER_VOLUME, "state": CopyState.READY, "progress": 100, "error": ""},
            )
    return image


def ensure_install_template() -> VMTemplate:
    """The seed's section III: a blank raw disk, the installer ISO in the CD-ROM, boot disk then CD-ROM."""
    template, _created = VMTemplate.objects.get_or_create(
        name=INSTALL_TEMPLATE_NAME,
        defaults={
            "description": (
                "A blank disk and the demo installer ISO in the CD-ROM: on the console, type install; the VM "
                "writes a tiny system to its disk and powers off. Eject the ISO (Disks and media) and start "
                "the VM: it boots from its disk and prints 'demo system installed'."
            ),
            "domain_xml": installer_domain_xml(),
            "boot_mode": BootMode.BIOS,
            "default_vcpus": 1,
            "max_vcpus": 2,
            "default_memory_mib": 256,
            "max_memory_mib": 512,
            "default_disk_gib": 1,
            "max_disk_gib": 4,
            "disk_source": DiskSource.EMPTY,
            "disk_format": DiskFormat.RAW,
        },
    )
    return template
