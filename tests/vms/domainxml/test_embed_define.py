"""son.xml, adapted, is accepted by real libvirt and QEMU: embedded driver, no daemon needed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from .helpers import SEED

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="QEMU is not installed")
def test_adapted_son_defines_and_starts():
    pytest.importorskip("libvirt")
    # A short root: libvirt refuses UNIX socket paths over 108 bytes, and pytest's tmp_path is long.
    root = tempfile.mkdtemp(prefix="dxe-", dir="/tmp")
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("embed_define.py")), root, str(SEED)],
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[-1] == "running"
    assert "Machine type 'pc-i440fx-rhel7.0.0' is not offered by this host; using 'pc' (i440fx)." in lines
    assert any(line.startswith("The CD-ROM image") for line in lines)
