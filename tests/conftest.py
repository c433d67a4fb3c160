"""Shared fixtures. The sandbox fleet is real: libvirtd daemons on this machine (make test starts it)."""

from __future__ import annotations

import os

import pytest
from django.conf import settings

SANDBOX_HOSTS = 3
# Users, a fake host and the demo template; a throwaway sshd and SSH identity (closer conftests may override).
pytest_plugins = ["tests.support.people", "tests.support.sshd"]
# Tests register libvirt's test driver (test:///default) as a host; a deployment never may. Set for
# this process (settings are loaded before this file) and for the workers and servers tests start.
os.environ["LIBVIRT_ALLOW_TEST_DRIVER"] = "true"


def pytest_configure(config):
    if config.pluginmanager.has_plugin("django"):  # tests/vms/domainxml also runs with -p no:django
        settings.LIBVIRT_ALLOW_TEST_DRIVER = True


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the default language. A test-client request in Vietnamese leaves "vi" active
    in the thread (LocaleMiddleware activates per request and never deactivates), and the next test's
    job messages came out in Vietnamese."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets channel layers of its own. A layer keeps per-event-loop state (channels_redis'
    receive lock and counters); a socket test that ends while one of its consumers still waits in
    receive() would otherwise hand the next test, on a new event loop, a lock bound to the old one."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(scope="session")
def sandbox_fleet():
    from sandbox.demo_guest import build_demo_guest
    from sandbox.fleet import SandboxFleet
    from sandbox.install import demo_guest_volumes

    fleet = SandboxFleet(settings.SANDBOX_DIR, first_index=settings.SANDBOX_FIRST_INDEX)
    # The files each host gets, kept on the fixture so tests can bring up hosts of their own.
    fleet.demo_files = demo_guest_volumes(build_demo_guest(settings.DEMO_GUEST_DIR))
    statuses = [fleet.status_of(fleet.host(i)) for i in range(1, SANDBOX_HOSTS + 1)]
    if not all(s.answers for s in statuses):
        fleet.up(SANDBOX_HOSTS, fleet.demo_files)
    return fleet


@pytest.fixture(scope="session")
def sandbox_uris(sandbox_fleet) -> list[str]:
    """The hosts as the dashboard registers them: qemu+ssh://root@10.213.0.1N/system."""
    return [sandbox_fleet.host(i).uri for i in range(1, SANDBOX_HOSTS + 1)]


@pytest.fixture(scope="session")
def sandbox_tcp_uris(sandbox_fleet) -> list[str]:
    """The same hosts over plain TCP (qemu+tcp://10.213.0.1N/system): the transport without SSH."""
    return [sandbox_fleet.host(i).tcp_uri for i in range(1, SANDBOX_HOSTS + 1)]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's set-up, plus: on PostgreSQL, end other sessions on the test database before it
    is dropped. Threads of channels and asgiref keep connections of their own, and PostgreSQL refuses
    to drop a database in use, which would leave one test database behind per run."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
