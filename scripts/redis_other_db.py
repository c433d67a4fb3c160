"""Print the Redis URL the dashboard resolves (REDIS_URL, or the local Redis, or its own private one)
with another database number: make test's PostgreSQL round runs at the same time as the SQLite one, and
its channel groups ("fleet"), Celery queues and watcher leases must not meet the other round's."""

import os
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

from django.conf import settings  # noqa: E402  (after the path and settings module are set)

OFFSET = 8  # of Redis's 16 databases


def other_db(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str((int(query.get("db", 0)) + OFFSET) % 16)
        return f"unix://{parts.path}?{urlencode(query)}"  # urlunsplit would drop the '//' of an empty host
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + OFFSET) % 16}"))


if __name__ == "__main__":
    print(other_db(settings.REDIS_URL))
