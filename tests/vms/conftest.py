import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def vm_worker_queue():
    return f"vms-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def vm_worker(vm_worker_queue, django_db_setup, django_db_blocker, tmp_path_factory, sandbox_fleet):
    """Two real Celery worker processes for VM jobs, on a private queue, against the test DB."""
    # Imported here: tests/vms/domainxml below also runs without Django (-p no:django).
    from tests.support.worker import forget_queue, start_worker, stop_worker

    process = start_worker(vm_worker_queue, tmp_path_factory.mktemp("vm-worker") / "worker.log", concurrency=2)
    yield process
    stop_worker(process)
    forget_queue(vm_worker_queue)


@pytest.fixture
def jobs_to_test_queue(settings, vm_worker_queue):
    settings.CELERY_TASK_DEFAULT_QUEUE = vm_worker_queue


@pytest.fixture
def admin_user(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root-admin", "a@example.org", "pw-0123456789")


@pytest.fixture
def fleet_hosts(db, sandbox_fleet):
    from sandbox import bootstrap

    hosts = bootstrap.register_sandbox_hosts(sandbox_fleet.hosts(3))
    bootstrap.check_all(hosts)
    for host in hosts:
        host.refresh_from_db()
        assert host.online, host.last_error
    return hosts


@pytest.fixture
def demo_template(db):
    from sandbox import bootstrap

    return bootstrap.ensure_demo_template()


@pytest.fixture(autouse=True)
def remove_test_vms_from_hosts(request):
    """Whatever a failing test left on the sandbox hosts goes, so the next test starts clean.

    Only for the tests of VM services and runners beside this file: the folders below (graphics,
    watcher, templates, domainxml) make and clean up their own domains.
    """
    yield
    if Path(str(request.node.path)).resolve().parent != HERE:
        return
    if "django_db_setup" not in request.fixturenames and "db" not in request.fixturenames:
        return
    from vms.choices import VMState
    from vms.models import VirtualMachine
    from vms.runners.vm import remove_from_host

    for vm in VirtualMachine.objects.select_related("host").exclude(state=VMState.DELETED).filter(host__isnull=False):
        try:
            remove_from_host(vm)
        except Exception as exc:  # report, but let the test's own result stand
            print(f"cleanup of {vm.name} failed: {exc}")


@pytest.fixture
def api(admin_user):
    """An API client logged in as the admin."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    return client
