"""Fixtures for the socket tests: a test database and a channel layer of their own (real Redis)."""

from __future__ import annotations

import copy
import os
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connections


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database of our own: other suites may run at the same time on this machine."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"live{os.getpid()}")


@pytest.fixture(autouse=True)
def private_channel_layer(settings):
    """The project's Redis channel layer under a prefix of this test's own: groups such as "fleet" or
    "user.1" are shared by every run on this Redis, and another run's broadcast must not reach us."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["prefix"] = f"kvmdash-test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = layers
    return layers


@pytest.fixture(autouse=True)
async def close_consumer_connections():
    """Consumers query from asgiref's shared thread; close its connection so the test database can go."""
    yield
    await sync_to_async(connections.close_all)()
