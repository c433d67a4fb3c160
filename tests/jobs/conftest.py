from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

import tests.jobs.runners  # noqa: F401  (registers the test runners in this process)


# No passwords: hashing them costs ~0.3 s per user; tests log in with force_login.
@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("staff", is_staff=True)
