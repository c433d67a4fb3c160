"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(settings.BASE_DIR)
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS_ENV = set(re.findall(r'env_\w+\("([A-Z_]+)"', (ROOT / "dashboard" / "settings.py").read_text()))
SETTINGS_ENV |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', (ROOT / "dashboard" / "env.py").read_text()))
SETTINGS_ENV |= set(re.findall(r'environ\.get\("([A-Z_]+)"', (ROOT / "dashboard" / "redis_url.py").read_text()))


def test_services_and_health_checks():
    services = COMPOSE["services"]
    assert set(services) == {"web", "worker", "watcher", "redis", "postgres"}
    for name in ("web", "worker", "redis", "postgres"):
        assert "healthcheck" in services[name], name
    assert services["postgres"]["volumes"][0].startswith("pgdata:")
    for name in ("web", "worker", "watcher"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"


def test_every_app_command_exists_in_the_project():
    commands = get_commands()
    for name in ("web", "worker", "watcher"):
        argv = COMPOSE["services"][name]["command"]
        words = shlex.split(argv[-1]) if argv[0] == "sh" else argv
        for part in " ".join(words).split("&&"):
            words = part.split()
            if words[:2] == ["python", "manage.py"]:
                assert words[2] in commands, f"{name}: manage.py {words[2]} does not exist"
            elif words[0] == "celery":
                assert words[1:3] == ["-A", "dashboard"] and (ROOT / "dashboard" / "celery.py").exists()
            elif words[0] == "uvicorn":
                assert words[-1] == "dashboard.asgi:application" and (ROOT / "dashboard" / "asgi.py").exists()
            else:
                raise AssertionError(f"{name}: unknown program {words[0]}")


def test_environment_names_are_ones_the_settings_read():
    app_env = COMPOSE["services"]["web"]["environment"]
    unknown = set(app_env) - SETTINGS_ENV
    assert not unknown, f"compose sets variables the settings never read: {unknown}"
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= set(app_env)
    assert app_env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in app_env["DATABASE_URL"]


def test_kvm_access_is_mounted_read_only():
    volumes = COMPOSE["services"]["worker"]["volumes"]
    # Sources may hold "${VAR:-default}", so read target and mode from the right.
    targets = {}
    for volume in volumes:
        _source, target, *mode = volume.rsplit(":", 2) if volume.endswith((":ro", ":rw")) else [*volume.rsplit(":", 1)]
        targets[target] = mode[0] if mode else "rw"
    assert targets["/etc/pki/libvirt"] == targets["/etc/pki/CA"] == "ro"


def test_the_ssh_key_is_a_secret_every_process_reads():
    assert "ssh_key" in COMPOSE["secrets"] and COMPOSE["secrets"]["ssh_key"]["file"]
    for name in ("web", "worker", "watcher"):
        service = COMPOSE["services"][name]
        assert service["secrets"] == ["ssh_key"], name
        assert service["environment"]["SSH_KEY_FILE"] == "/run/secrets/ssh_key", name


def test_dockerfile_installs_the_same_system_packages_as_setup():
    dockerfile = (ROOT / "Dockerfile").read_text()
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "scripts/apt-packages.txt" in dockerfile and "scripts/apt-packages.txt" in setup
    assert "pip install -r requirements.txt" in dockerfile
