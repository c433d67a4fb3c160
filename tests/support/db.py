"""The test database as a URL, for processes the tests start (workers, watchers, web servers)."""

from __future__ import annotations

from django.db import connection


def subprocess_database_url() -> str:
    """DATABASE_URL pointing at the database this test run uses (SQLite file or PostgreSQL)."""
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        name = str(conf["NAME"])
        assert name and name != ":memory:" and "mode=memory" not in name, "tests need a file-based SQLite"
        return f"sqlite:///{name}"
    if conf["ENGINE"].endswith("postgresql"):
        auth = conf["USER"] + (f":{conf['PASSWORD']}" if conf.get("PASSWORD") else "")
        return f"postgres://{auth}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"
    raise AssertionError(f"no URL for database engine {conf['ENGINE']}")
