"""Audit fixtures: users, a host and a template, and the Redis counters cleared around each test."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database of our own: other suites may run at the same time on this machine."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"audit{os.getpid()}")


@pytest.fixture(autouse=True)
def _counters(fresh_throttle_counters):
    """Failed logins and refused submissions counted by one test never throttle the next."""
