"""Issue 13: keys made by rest_framework.authtoken (stored raw) are hashed into ApiToken by a migration, so
clients keep working; the raw keys are gone afterwards."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from accounts.models import ApiToken

OLD_KEY = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.django_db(transaction=True)
def test_existing_authtoken_keys_keep_working_after_the_migration(alice):
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_initial")])
    # The table rest_framework.authtoken made (0001 + 0002 of that app), with one raw key in it.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) NOT NULL PRIMARY KEY, created timestamp NOT NULL, "
            "user_id integer NOT NULL UNIQUE)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [OLD_KEY, "2024-01-02 03:04:05", alice.pk],
        )
    try:
        call_command("migrate", verbosity=0)
        assert "authtoken_token" not in connection.introspection.table_names()
        token = ApiToken.objects.get(user=alice)
        assert token.prefix == OLD_KEY[:12] and OLD_KEY not in token.key_hash
        answer = Client().get("/api/v1/vms/", HTTP_AUTHORIZATION=f"Token {OLD_KEY}")
        assert answer.status_code == 200
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS authtoken_token")
        call_command("migrate", verbosity=0)
