"""The users, host and template that many suites need, made one way (database rows only, no libvirt)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

PASSWORD = "pw-0123456789"


def client_for(user, **kwargs) -> Client:
    """A Django test client logged in as `user` (without the login page: that has tests of its own)."""
    client = Client(**kwargs)
    client.force_login(user)
    return client


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username, f"{username}@example.org", PASSWORD, **extra)


def fake_host(name: str = "fake-1", uri: str = "test:///default"):
    """An online host that placement can choose: its capabilities are stored, never read from libvirt."""
    from vms.models import Host

    return Host.objects.create(
        name=name,
        uri=uri,
        online=True,
        enabled=True,
        capabilities={
            "cpus": 16,
            "memory_mib": 65536,
            "kvm": False,
            "pools": [{"name": "default", "active": True, "capacity": 500 * 2**30, "available": 500 * 2**30}],
        },
    )


def clear_throttle_counters() -> None:
    """Forget every failed-login and refused-submission count of this test database (its keys carry
    the database's tag)."""
    from live.redis import PREFIX, database_tag, sync_redis

    client = sync_redis()
    for key in client.scan_iter(f"{PREFIX}:{database_tag()}:*"):
        if b"login-failures" in key or b"refused-submissions" in key:
            client.delete(key)


# Fixtures: a conftest takes the ones it needs with `from tests.support.people import alice, ...`.
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
    return fake_host()


@pytest.fixture
def fresh_throttle_counters(db):
    clear_throttle_counters()
    yield
    clear_throttle_counters()
