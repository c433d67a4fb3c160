"""Portal fixtures: users of every role, a template, a host the placement can choose (no libvirt needed)."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group

from portal.choices import ApprovalMode
from tests.support.people import make_user
from vms.choices import VMState
from vms.models import VirtualMachine
from vms.permissions import OPERATORS_GROUP


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database of our own: other suites may run at the same time on this machine."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=f"portal{os.getpid()}")


@pytest.fixture
def operator(db):
    user = make_user("oper")
    user.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    return user


@pytest.fixture
def auto_template(template):
    from portal.services import set_policy

    set_policy(template, ApprovalMode.AUTO)
    return template


def make_vm(owner, host, name: str, state: str = VMState.RUNNING, **sizes) -> VirtualMachine:
    return VirtualMachine.objects.create(
        name=name,
        owner=owner,
        host=host,
        state=state,
        vcpus=sizes.get("vcpus", 1),
        memory_mib=sizes.get("memory_mib", 128),
        disk_gib=sizes.get("disk_gib", 1),
    )


@pytest.fixture
def private_queue(settings):
    """Jobs that a test queues go to a queue nobody reads, which is removed afterwards."""
    import uuid

    from tests.support.worker import forget_queue

    queue = f"portal-test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    yield queue
    forget_queue(queue)
