import os
import signal
import socket
import subprocess
import time

import pytest

from dashboard import env
from dashboard.redis_url import resolve_redis_url, tcp_answers, unix_answers


def test_env_bool_accepts_usual_spellings(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert env.env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "0")
    assert env.env_bool("X_FLAG", True) is False
    monkeypatch.delenv("X_FLAG")
    assert env.env_bool("X_FLAG", True) is True


def test_env_bool_refuses_garbage_with_the_variable_name(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(env.SettingError, match="X_FLAG='maybe' is not a boolean"):
        env.env_bool("X_FLAG", False)


def test_env_int_and_list(monkeypatch):
    monkeypatch.setenv("X_NUM", "12")
    assert env.env_int("X_NUM", 1) == 12
    monkeypatch.setenv("X_NUM", "twelve")
    with pytest.raises(env.SettingError, match="not a whole number"):
        env.env_int("X_NUM", 1)
    monkeypatch.setenv("X_LIST", " a, b ,,c")
    assert env.env_list("X_LIST", []) == ["a", "b", "c"]


def test_secret_key_generated_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = env.secret_key(tmp_path)
    assert len(first) >= 50
    assert env.secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert env.secret_key(tmp_path) == "from-env"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_url_from_environment_wins(tmp_path):
    url = resolve_redis_url(tmp_path, environ={"REDIS_URL": "redis://example.invalid:1/2"}, start=False)
    assert url == "redis://example.invalid:1/2"


def test_redis_on_tcp_is_used_when_it_answers(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""], stdout=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if tcp_answers("127.0.0.1", port):
                break
            time.sleep(0.05)
        assert resolve_redis_url(tmp_path, environ={}, tcp=("127.0.0.1", port)) == f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def test_private_redis_started_on_unix_socket_when_none_answers(tmp_path):
    unused = ("127.0.0.1", _free_port())
    with pytest.raises(RuntimeError, match="set REDIS_URL"):
        resolve_redis_url(tmp_path, environ={}, start=False, tcp=unused)
    url = resolve_redis_url(tmp_path, environ={}, tcp=unused)
    sock = tmp_path / "redis" / "redis.sock"
    pidfile = tmp_path / "redis" / "redis.pid"
    try:
        assert url == f"unix://{sock}?db=0"
        assert unix_answers(sock)
        pid = int(pidfile.read_text())
        # A second process finds the running one instead of starting another.
        assert resolve_redis_url(tmp_path, environ={}, tcp=unused) == url
        assert int(pidfile.read_text()) == pid
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


def test_celery_broker_url_for_unix_socket():
    from dashboard.settings import _celery_url

    assert _celery_url("unix:///x/redis.sock?db=0") == "redis+socket:///x/redis.sock"
    assert _celery_url("redis://h:1/0") == "redis://h:1/0"


def test_default_database_is_sqlite_under_var_with_a_file_test_db(tmp_path):
    from dashboard.settings import database_config

    config = database_config(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "db.sqlite3")
    assert config["TEST"]["NAME"] == str(tmp_path / f"test-db-{os.getpid()}.sqlite3")
    assert config["OPTIONS"]["timeout"] == 30


def test_database_url_selects_postgresql(tmp_path):
    from dashboard.settings import database_config

    config = database_config("postgres://postgres@127.0.0.1:5432/kvmdash", tmp_path)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "kvmdash"
    assert "TEST" not in config or "NAME" not in config.get("TEST", {})
