"""Issue 13: TLS deployments get secure cookies, the proxy's HTTPS header and HSTS from the environment
(on in docker-compose.yml); the API's schema and docs are for logged-in users only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
READ = (
    "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps(["
    "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER, s.SECURE_HSTS_SECONDS]))"
)
SECURE_ENV = {
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto,https",
    "SECURE_HSTS_SECONDS": "31536000",
}


def settings_with(env: dict) -> list:
    base = {k: v for k, v in os.environ.items() if k not in SECURE_ENV}
    done = subprocess.run(
        [sys.executable, "-c", READ],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_tls_settings_come_from_the_environment():
    assert settings_with({}) == [False, False, None, 0]
    assert settings_with(SECURE_ENV) == [True, True, ["HTTP_X_FORWARDED_PROTO", "https"], 31536000]


def test_docker_compose_turns_the_tls_settings_on():
    app_env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["environment"]
    for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        assert str(app_env[name]).split(":-")[-1].rstrip("}") == "true", name
    assert "X-Forwarded-Proto,https" in app_env["SECURE_PROXY_SSL_HEADER"]
    assert int(str(app_env["SECURE_HSTS_SECONDS"]).split(":-")[-1].rstrip("}")) > 0


@pytest.mark.django_db
def test_hsts_and_secure_cookies_behind_the_proxy(settings, alice):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SESSION_COOKIE_SECURE = True
    page = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert page["Strict-Transport-Security"].startswith("max-age=3600")
    client = Client()
    client.post("/login/", {"username": "alice", "password": "pw-0123456789"}, HTTP_X_FORWARDED_PROTO="https")
    assert client.cookies["sessionid"]["secure"]


@pytest.mark.django_db
def test_the_api_schema_and_docs_are_for_logged_in_users_only(alice):
    assert Client().get("/api/schema/").status_code == 403
    docs = Client().get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/login/")
    member = Client()
    member.force_login(alice)
    assert member.get("/api/schema/").status_code == 200
    assert member.get("/api/docs/").status_code == 200
