"""Every staff page answers the same way: 403 to a logged-in user who is not an admin, the login page
to an anonymous one.

The pages are found from the URL resolver, not listed by hand: every pattern under `manage/`, and every
pattern whose view carries the one staff guard (`vms.views.access.staff_required` marks its wrapper
`staff_only`), so a staff page added anywhere is walked here as soon as it is routed.
"""

from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from vms.permissions import OPERATORS_GROUP

ROOT = Path(__file__).resolve().parent.parent
APPS = ("dashboard", "live", "audit", "jobs", "vms", "portal", "sandbox")
# A value for each path converter; the guard answers before any object is looked up.
SAMPLES = {"int": "1", "uuid": str(uuid.UUID(int=1)), "str": "x", "slug": "x", "path": "x"}


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def _url(route: str) -> str:
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], route)


ROUTES = list(_walk(get_resolver().url_patterns))
MANAGE_ROUTES = [(route, p) for route, p in ROUTES if route.startswith("manage/")]
STAFF_ROUTES = [
    (route, p) for route, p in ROUTES if route.startswith("manage/") or getattr(p.callback, "staff_only", 0)
]


def test_the_walk_sees_the_staff_pages():
    # A walk over nothing passes by construction: make sure it finds what is there, in both apps.
    assert MANAGE_ROUTES
    assert {"requests/inbox/", "fleet/"} <= {route for route, _p in STAFF_ROUTES}


@pytest.mark.parametrize("route,pattern", MANAGE_ROUTES, ids=[_url(r) for r, _p in MANAGE_ROUTES])
def test_every_manage_page_has_the_staff_guard(route, pattern):
    assert getattr(pattern.callback, "staff_only", False), f"/{route} is not behind vms.views.access.staff_required"


@pytest.fixture
def plain(db):
    return get_user_model().objects.create_user("plain-user")


@pytest.fixture
def operator(db):
    user = get_user_model().objects.create_user("operator-user")
    user.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    return user


@pytest.mark.parametrize("route,pattern", STAFF_ROUTES, ids=[_url(r) for r, _p in STAFF_ROUTES])
@pytest.mark.parametrize("who", ["plain", "operator"])
def test_a_logged_in_user_who_is_not_an_admin_gets_403(route, pattern, who, request):
    url = _url(route)
    assert resolve(url).func is pattern.callback, url
    client = Client()
    client.force_login(request.getfixturevalue(who))
    assert client.get(url).status_code == 403, url
    assert client.post(url, {}).status_code == 403, url


@pytest.mark.django_db
@pytest.mark.parametrize("route,pattern", STAFF_ROUTES, ids=[_url(r) for r, _p in STAFF_ROUTES])
def test_an_anonymous_user_is_sent_to_the_login_page(route, pattern):
    url = _url(route)
    assert resolve(url).func is pattern.callback, url
    login = resolve_url(settings.LOGIN_URL)
    for response in (Client().get(url), Client().post(url, {})):
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{login}?next="), (url, response["Location"])


def test_there_is_one_staff_guard():
    """No app guards a page with Django's staff decorators or a staff decorator of its own."""
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts or path == ROOT / "vms" / "views" / "access.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom):
                    names = {alias.name for alias in node.names}
                    if names & {"staff_member_required", "user_passes_test", "staff_required"} and (
                        node.module != "vms.views.access"
                    ):
                        found.append(f"{path.relative_to(ROOT)} imports {sorted(names)} from {node.module}")
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "staff_required":
                    found.append(f"{path.relative_to(ROOT)} defines staff_required")
    assert found == []
