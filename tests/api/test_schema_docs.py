"""The API reference reads well: every operation has a one-line summary, and the VM actions endpoint
names the actions it takes."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_operation_has_a_summary(schema):
    missing = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if not operation.get("summary")
    ]
    assert not missing, f"add these to dashboard/api_docs.py SUMMARIES: {missing}"


def test_the_actions_endpoint_lists_its_action_names(schema):
    operation = schema["paths"]["/api/v1/vms/{id}/actions/{action_name}/"]["post"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "action_name"]
    names = set(parameter["schema"]["enum"])
    assert names == {"start", "shutdown", "reboot", "force-off", "suspend", "resume"}
    for name in names:
        assert f"`{name}`" in operation["description"]
