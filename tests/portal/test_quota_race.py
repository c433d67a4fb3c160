"""50 parallel submissions against a quota of 10: exactly 10 get through (PostgreSQL, real connections).

Each thread has its own database connection (Django's are per thread), so the row lock taken by
portal.quotas.lock_and_check is what keeps them apart. Runs only when DATABASE_URL is PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kvmdash pytest tests/portal/test_quota_race.py
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from portal import quotas, services
from portal.choices import RequestState
from portal.models import VMRequest
from vms.choices import VMState
from vms.models import VirtualMachine

pytestmark = pytest.mark.django_db(transaction=True)

PARALLEL = 50
QUOTA = 10


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the race needs real concurrent transactions: set DATABASE_URL=postgres://... to run it")


def race(user, template) -> list[object]:
    barrier = threading.Barrier(PARALLEL)

    def one(i: int):
        try:
            barrier.wait(timeout=30)
            return services.submit_request(user, template, f"race-{i}", 1, 128, 1)
        except ValidationError as exc:
            return exc
        finally:
            connections.close_all()  # this thread's own connection

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(one, range(PARALLEL)))


@pytest.fixture(autouse=True)
def no_refusal_limit(settings):
    """40 of the 50 racers are refused by the quota: the limit on refused submissions per minute
    (tests/audit) must not turn those refusals into throttling here."""
    settings.PORTAL_REFUSED_SUBMISSIONS_PER_MINUTE = 10_000


def test_pending_requests_hold_the_quota(alice, template):
    quotas.set_quota(user=alice, max_vms=QUOTA, max_vcpus=100, max_memory_mib=100000, max_disk_gib=1000)
    results = race(alice, template)
    accepted = [r for r in results if isinstance(r, VMRequest)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(accepted) == QUOTA and len(refused) == PARALLEL - QUOTA
    assert all("quota" in r.message_dict for r in refused)
    assert VMRequest.objects.filter(requester=alice, state=RequestState.PENDING).count() == QUOTA


def test_auto_approval_makes_exactly_the_quota_of_vms(alice, auto_template, host, private_queue):
    quotas.set_quota(user=alice, max_vms=QUOTA, max_vcpus=100, max_memory_mib=100000, max_disk_gib=1000)
    results = race(alice, auto_template)
    assert sum(isinstance(r, VMRequest) for r in results) == QUOTA
    assert VirtualMachine.objects.filter(owner=alice).exclude(state=VMState.DELETED).count() == QUOTA
    assert VMRequest.objects.filter(requester=alice, state=RequestState.PROVISIONED).count() == QUOTA
