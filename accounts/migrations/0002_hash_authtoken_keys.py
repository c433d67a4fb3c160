# Keys made by rest_framework.authtoken (stored raw in authtoken_token) become hashed ApiToken rows, so
# clients that have one keep working; then the raw keys are gone: the table is dropped and Django forgets
# the authtoken migrations (the app is no longer installed). A database without that table is left alone.

import datetime
import hashlib

from django.db import migrations
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.dateparse import parse_datetime

OLD_TABLE = "authtoken_token"


def _aware(value):
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime.datetime):
        return timezone.now()
    return value if timezone.is_aware(value) else value.replace(tzinfo=datetime.timezone.utc)


def hash_old_keys(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id, created FROM {OLD_TABLE}")
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        key_hash = hashlib.sha256(key.encode()).hexdigest()
        if not ApiToken.objects.filter(key_hash=key_hash).exists():
            ApiToken.objects.create(
                user_id=user_id,
                name="API token (from before hashing)",
                key_hash=key_hash,
                prefix=key[:12],
                created_at=_aware(created),
            )
    schema_editor.execute(f"DROP TABLE {connection.ops.quote_name(OLD_TABLE)}")
    MigrationRecorder(connection).migration_qs.filter(app="authtoken").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        # One way: the raw keys cannot be brought back from their hashes.
        migrations.RunPython(hash_old_keys, migrations.RunPython.noop),
    ]
