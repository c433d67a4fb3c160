"""Issue 13: var/admin-password is readable by its owner only (0600), even when the file was already there."""

from __future__ import annotations

import os
import stat

import pytest
from django.contrib.auth import get_user_model

from sandbox import bootstrap


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.django_db
def test_admin_password_is_written_0600_even_when_the_file_already_exists(tmp_path):
    password_file = tmp_path / "var" / "admin-password"
    password_file.parent.mkdir()
    password_file.write_text("left over\n")
    os.chmod(password_file, 0o644)  # readable by everyone, e.g. written by an older version

    login = bootstrap.ensure_admin(password_file)

    assert login.created and mode(password_file) == 0o600
    assert password_file.read_text() == login.password + "\n"
    assert get_user_model().objects.get(username="admin").check_password(login.password)


@pytest.mark.django_db
def test_a_readable_admin_password_file_is_closed_on_the_next_run(tmp_path):
    password_file = tmp_path / "admin-password"
    first = bootstrap.ensure_admin(password_file)
    os.chmod(password_file, 0o644)
    again = bootstrap.ensure_admin(password_file)
    assert (again.created, again.password) == (False, first.password) and mode(password_file) == 0o600
