from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

import vms.runners.images  # noqa: F401  (registers image.copy until vms/runners/vm.py imports it)
from vms.choices import Emulation

SON_XML = Path("/work/shared/seed/son.xml")


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_user("boss", is_staff=True)


@pytest.fixture
def plain_user(db):
    return get_user_model().objects.create_user("carol")


@pytest.fixture
def son_xml() -> str:
    return SON_XML.read_text()


@pytest.fixture
def image_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return tmp_path


@pytest.fixture
def sandbox_host(db, sandbox_uris):
    from vms.services.hosts import add_host

    return add_host("kvm-1", sandbox_uris[0], emulation=Emulation.QEMU)


def qemu_img(*args: str | Path) -> None:
    subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)
