"""The project's SSH identity, from settings: made once, handed to the hypervisor layer at start-up."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from vms.hypervisor import ssh


def project_identity() -> ssh.SshIdentity:
    key = Path(settings.SSH_KEY_FILE) if settings.SSH_KEY_FILE else None
    return ssh.ensure_identity(Path(settings.SSH_DIR), key)


def configure_from_settings() -> None:
    """Every process (web, worker, watcher, manage.py) opens SSH hosts with the same key and known_hosts.
    A key that cannot be made (read-only disk, no ssh-keygen) leaves SSH hosts unreachable with libvirt's
    own sentence rather than stopping the whole process."""
    try:
        ssh.configure(project_identity())
    except (OSError, ssh.SshError) as exc:
        logging.getLogger(__name__).warning("SSH identity unavailable: %s", exc)
        ssh.configure(None)
