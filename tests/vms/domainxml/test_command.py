"""The `domainxml` management command: call_command for behaviour, a subprocess for exit codes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vms.domainxml import Domain, ValidationError, validate

from .helpers import SEED, canonical

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def call():
    import django
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    if not settings.configured or not django.apps.apps.ready:
        django.setup()
    from django.core.management import call_command

    def run(*args: str) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        call_command("domainxml", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    return run


def test_prints_the_same_document(call):
    out, err = call(str(SEED))
    assert canonical(out) == canonical(SEED.read_text()) and err == ""


def test_set_fields_and_validate(call):
    out, _ = call(str(SEED), "--set", "memory=2GiB", "--set", "vcpu=2", "--set", "title=Web & co", "--validate")
    dom = Domain.from_xml(out)
    assert (dom.memory, dom.vcpu, dom.title) == (2097152, 2, "Web & co")
    validate(out)


@pytest.mark.parametrize(
    "args,reason",
    [
        (["--set", "colour=blue"], "unknown field 'colour'"),
        (["--set", "on_reboot=coredump-destroy"], "on_reboot cannot be 'coredump-destroy'"),
        (["--set", "memory"], "not FIELD=VALUE"),
    ],
)
def test_bad_input_is_exit_2(call, args, reason):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match=reason) as err:
        call(str(SEED), *args)
    assert err.value.returncode == 2


def test_invalid_document_is_exit_2_with_path(call, tmp_path):
    from django.core.management import CommandError

    bad = tmp_path / "bad.xml"
    bad.write_text(SEED.read_text().replace("<on_crash>destroy</on_crash>", "<on_crash>boom</on_crash>"))
    with pytest.raises(CommandError, match="/domain/on_crash") as err:
        call(str(bad), "--validate")
    assert err.value.returncode == 2
    with pytest.raises(ValidationError):
        validate(bad.read_text())


def _manage(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "domainxml", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env} if env else None,
    )


def test_subprocess_stdin_and_exit_codes():
    ok = _manage("-", "--set", "name=piped", stdin=SEED.read_text())
    assert ok.returncode == 0, ok.stderr
    assert Domain.from_xml(ok.stdout).name == "piped"
    broken = _manage("-", stdin="<domain><name>x</name>")
    assert broken.returncode == 2
    assert broken.stdout == ""
    assert len(broken.stderr.strip().splitlines()) == 1 and "not well-formed" in broken.stderr
    missing = _manage("/nonexistent/domain.xml")
    assert missing.returncode == 2 and missing.stdout == ""


def test_adapt_to_works_without_a_database(tmp_path):
    """Asking which emulation a registered host uses needs the database; without one, kvm and qemu are allowed.

    libvirt's test driver offers only i686 guests of type 'test', so the refusal names what was allowed.
    """
    i686 = tmp_path / "son-i686.xml"
    i686.write_text(SEED.read_text().replace("arch='x86_64'", "arch='i686'"))
    nowhere = f"sqlite:///{tmp_path}/missing/db.sqlite3"
    result = _manage(str(i686), "--adapt-to", "test:///default", env={"DATABASE_URL": nowhere})
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert "none of which is allowed here (kvm, qemu)" in result.stderr
    assert not (tmp_path / "missing").exists()
