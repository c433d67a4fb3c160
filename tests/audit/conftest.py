"""Audit fixtures: users, a host and a template, and the Redis counters cleared around each test."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth import get_user_model

PASSWORD = "pw-0123456789"


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database of our own: other suites may run at the same time on this machine."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"audit{os.getpid()}")


def clear_counters() -> None:
    """Forget every failure count of this test database (its keys carry the database's tag)."""
    from live.redis import PREFIX, database_tag, sync_redis

    client = sync_redis()
    for key in client.scan_iter(f"{PREFIX}:{database_tag()}:*"):
        if b"login-failures" in key or b"refused-submissions" in key:
            client.delete(key)


@pytest.fixture(autouse=True)
def fresh_counters(db):
    clear_counters()
    yield
    clear_counters()


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username, f"{username}@example.org", PASSWORD, **extra)


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_superuser("boss", "boss@example.org", PASSWORD)


@pytest.fixture
def template(db):
    from sandbox import bootstrap

    return bootstrap.ensure_demo_template()


@pytest.fixture
def host(db):
    from vms.models import Host

    return Host.objects.create(
        name="fake-1",
        uri="test:///default",
        online=True,
        enabled=True,
        capabilities={
            "cpus": 16,
            "memory_mib": 65536,
            "kvm": False,
            "pools": [{"name": "default", "active": True, "capacity": 500 * 2**30, "available": 500 * 2**30}],
        },
    )
