"""Every operation of the OpenAPI schema, driven with generated, malformed and hostile input.

schemathesis reads /api/schema/ from the Django WSGI app in this process and, for each operation, sends
valid (positive) and schema-violating (negative) requests, as a plain user and as an admin (token auth).
An answer fails the test when it is a 5xx or does not match the schema: status code declared, content
type declared, body valid against the declared schema.

No sandbox fleet, worker or broker is needed, and nothing leaves this process:
- each operation runs in one test transaction (pytest-django `db`) that is rolled back afterwards;
  jobs are sent to Celery and broadcasts to Redis only on commit, so they never are (guarded below);
- libvirt may open `test:///default` only (its in-process test driver): the operations that contact a
  host by design - POST hosts/ (require_reachable), POST hosts/{id}/check/, GET templates/{id}/preview/ -
  are fuzzed too, but any other URI is refused as unreachable instead of dialled;
- uploaded images go to a temporary VAR_DIR.

Runs are deterministic (derandomized), about a minute for 25 examples per operation and role; set
API_FUZZ_EXAMPLES=200 for a deeper run.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import hypothesis
import libvirt
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
HARMLESS_URI = "test:///default"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# /api/schema/ answers logged-in users only: build the document it serves here, in this process.
schema = schemathesis.openapi.from_dict(
    json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
)
schema.app = get_wsgi_application()
schema.location = "/api/schema/?format=json"
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES)

# Primary keys of the rows `world` made: path parameters are often drawn from them, so operations reach
# real objects (and their refusals: other people's VMs, a busy VM, a finished job) and not only 404s.
KNOWN_IDS: list[int] = []


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    if not isinstance(path_parameters, dict) or "id" not in path_parameters or not KNOWN_IDS:
        return st.just(path_parameters)
    known = st.sampled_from(KNOWN_IDS).map(lambda pk: {**path_parameters, "id": pk})
    return st.one_of(st.just(path_parameters), known)


def _only_the_test_driver(real_open):
    def guarded(uri=None, *args, **kwargs):
        if uri != HARMLESS_URI:
            raise libvirt.libvirtError(f"the API fuzz test does not connect to {uri!r}")
        return real_open(uri, *args, **kwargs)

    return guarded


def _never(what):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the API fuzz test must not {what}")

    return refuse


@pytest.fixture
def world(db, settings, tmp_path, monkeypatch):
    """Users with tokens and a few rows of everything, in the test transaction: `.headers[role]`, `.rows`."""
    from accounts import tokens
    from jobs.choices import JobState
    from jobs.models import Job
    from jobs.services import enqueue
    from jobs.targets import target_for
    from portal import quotas
    from portal.services import submit_request
    from sandbox import bootstrap
    from tests.support.people import fake_host
    from vms.choices import VMState
    from vms.models import Image, ImageFormat, ImageKind, VirtualMachine

    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(libvirt, "open", _only_the_test_driver(libvirt.open))
    monkeypatch.setattr(libvirt, "openReadOnly", _only_the_test_driver(libvirt.openReadOnly))
    monkeypatch.setattr("jobs.services.dispatch", lambda job: None)  # belt and braces: never a broker
    monkeypatch.setattr("live.broadcast.send_now", _never("broadcast to Redis"))
    # Django's request signals would close the connection (and so the test transaction) after each
    # request; Django's own test client disconnects them the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)

    User = get_user_model()
    alice = User.objects.create_user("alice", "alice@example.org")
    boss = User.objects.create_superuser("boss", "boss@example.org", None)
    host = fake_host(uri=HARMLESS_URI)
    template = bootstrap.ensure_demo_template()
    sizes = {"vcpus": 1, "memory_mib": 128, "disk_gib": 1}
    mine = VirtualMachine.objects.create(name="alice-1", owner=alice, host=host, state=VMState.RUNNING, **sizes)
    busy = VirtualMachine.objects.create(name="alice-2", owner=alice, host=host, state=VMState.STOPPED, **sizes)
    boss_vm = VirtualMachine.objects.create(name="boss-1", owner=boss, host=host, state=VMState.RUNNING, **sizes)
    found = VirtualMachine.objects.create(name="found-1", host=host, state=VMState.RUNNING, managed=False, **sizes)
    unplaced = VirtualMachine.objects.create(name="alice-3", owner=alice, state=VMState.PENDING, **sizes)  # no host
    blocking = enqueue("vm.start", target_for(busy), alice)  # holds alice-2: its actions answer 409
    failed = Job.objects.create(kind="vm.reboot", target=target_for(mine), state=JobState.FAILED, requested_by=alice)
    request = submit_request(alice, template, "alice-req", 1, 128, 1, [], "")
    quota = quotas.set_quota(user=alice, max_vms=10)
    image = Image.objects.create(name="base", kind=ImageKind.BASE, format=ImageFormat.RAW, size=512, volume="base.img")
    rows = (host, template, mine, busy, boss_vm, found, blocking, failed, request, image, quota, alice, boss)
    KNOWN_IDS[:] = sorted({row.pk for row in rows})
    headers = {
        "user": {"Authorization": f"Token {tokens.issue(alice).key}"},
        "admin": {"Authorization": f"Token {tokens.issue(boss).key}"},
    }
    rows = SimpleNamespace(
        host=host, template=template, mine=mine, busy=busy, unplaced=unplaced, blocking=blocking, failed=failed
    )
    yield SimpleNamespace(headers=headers, rows=rows)
    KNOWN_IDS.clear()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("role", ["user", "admin"])
@schema.parametrize()
@hypothesis.settings(deadline=None, suppress_health_check=list(hypothesis.HealthCheck), database=None, derandomize=True)
def test_api_answers_bad_input_without_5xx_and_as_documented(case, role, world):
    case.call_and_validate(headers=world.headers[role], checks=CHECKS)


def _on(label: str, pk: int, **parts) -> tuple[str, dict]:
    return label, {"path_parameters": {"id": pk}, **parts}


def _pool(pk: int, label: str, pool: str, volume: str = "") -> tuple[str, dict]:
    parts = {"id": pk, "name": pool, **({"volume": volume} if volume else {})}
    return label, {"path_parameters": parts}


def _action(vm, name: str) -> tuple[str, dict]:
    return "POST /api/v1/vms/{id}/actions/{action_name}/", {"path_parameters": {"id": vm.pk, "action_name": name}}


def test_real_successes_and_refusals_are_answered_as_documented(world):
    """Generated input seldom gets past validation: drive the main paths with valid requests, in an order
    that makes each answer what it should, and check those answers against the schema too."""
    rows = world.rows
    template = rows.template.pk
    steps = [  # (role, (operation, request parts), expected status)
        ("user", _on("POST /api/v1/jobs/{id}/retry/", rows.failed.pk), 200),
        # The retried job (vm.reboot on running alice-1) now holds that VM: another action on it is 409.
        ("user", _action(rows.mine, "shutdown"), 409),
        ("user", _on("DELETE /api/v1/vms/{id}/", rows.busy.pk), 409),  # held by `blocking`
        ("user", _on("POST /api/v1/jobs/{id}/cancel/", rows.blocking.pk), 200),
        ("user", _action(rows.busy, "start"), 202),
        ("user", _on("DELETE /api/v1/vms/{id}/", rows.busy.pk), 409),  # held by that start
        ("user", _action(rows.mine, "resume"), 400),  # a running VM cannot resume: input, not timing
        ("user", _on("DELETE /api/v1/vms/{id}/", rows.unplaced.pk), 202),
        ("user", ("GET /api/v1/jobs/", {"query": {"state": "queued", "kind": "vm.start"}}), 200),
        ("user", ("GET /api/v1/jobs/", {"query": {"state": "finished"}}), 400),
        ("user", ("POST /api/v1/vms/", {"body": {"template": template, "name": "asked-1"}}), 202),  # a request
        ("admin", ("POST /api/v1/vms/", {"body": {"template": template, "name": "made-1"}}), 202),  # VM + job
        ("user", ("POST /api/v1/requests/", {"body": {"template": template, "name": "asked-2"}}), 201),
        ("user", ("GET /api/v1/requests/", {"query": {"state": "pending"}}), 200),
        ("user", ("GET /api/v1/audit/", {"query": {"since": "2000-01-01", "action": "vm."}}), 200),
        ("admin", _on("DELETE /api/v1/hosts/{id}/", rows.host.pk), 409),  # its VMs still use it
        ("admin", _on("POST /api/v1/hosts/{id}/check/", rows.host.pk), 200),
        # Storage, on the test driver's in-process host: its facts were stored by the check above.
        ("admin", _on("GET /api/v1/hosts/{id}/pools/", rows.host.pk), 200),
        ("admin", _on("POST /api/v1/hosts/{id}/pools/", rows.host.pk, body={"name": "fz", "path": "/fz"}), 201),
        ("admin", _on("POST /api/v1/hosts/{id}/pools/", rows.host.pk, body={"name": "fz", "path": "/fz"}), 400),
        # Each storage call opens its own connection, and the test driver starts afresh each time (so "fz" is
        # gone again there); its own pool is always there.
        ("admin", _pool(rows.host.pk, "GET /api/v1/hosts/{id}/pools/{name}/volumes/", "default-pool"), 200),
        (
            "admin",
            _pool(rows.host.pk, "DELETE /api/v1/hosts/{id}/pools/{name}/volumes/{volume}/", "default-pool", "no"),
            404,
        ),
    ]
    for role, (label, parts), expected in steps:
        method, path = label.split(" ", 1)
        if "body" in parts:
            parts["media_type"] = "application/json"
        response = schema[path][method].Case(**parts).call_and_validate(headers=world.headers[role], checks=CHECKS)
        assert response.status_code == expected, (label, parts, response.status_code, response.text)
