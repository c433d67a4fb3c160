"""Exit 0 when a PostgreSQL server answers at the URL given (its 'postgres' database), else 1."""

import sys
from urllib.parse import urlsplit

import psycopg

url = urlsplit(sys.argv[1])
try:
    psycopg.connect(
        host=url.hostname,
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname="postgres",
        connect_timeout=3,
    ).close()
except psycopg.OperationalError:
    sys.exit(1)
