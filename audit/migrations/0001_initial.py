# The audit log moved from the portal app to its own: the table (portal_auditentry) and its rows stay
# where they are; only Django's idea of which app owns the model changes.

import django.core.serializers.json
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("portal", "0001_initial"),  # made the table
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEntry",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("at", models.DateTimeField(auto_now_add=True, db_index=True, verbose_name="time")),
                        ("actor_name", models.CharField(blank=True, max_length=150, verbose_name="actor name")),
                        ("action", models.CharField(db_index=True, max_length=64, verbose_name="action")),
                        ("object_type", models.CharField(blank=True, max_length=32, verbose_name="object type")),
                        ("object_id", models.CharField(blank=True, max_length=64, verbose_name="object ID")),
                        ("object_name", models.CharField(blank=True, max_length=200, verbose_name="object name")),
                        ("result", models.CharField(choices=[("ok", "Done"), ("refused", "Refused"), ("failed", "Failed")], default="ok", max_length=8, verbose_name="result")),
                        ("details", models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder, verbose_name="details")),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="actor")),
                    ],
                    options={
                        "verbose_name": "audit entry",
                        "verbose_name_plural": "audit log",
                        "db_table": "portal_auditentry",
                        "ordering": ["-at", "-id"],
                        "indexes": [models.Index(fields=["actor", "-at"], name="audit_actor_recent"), models.Index(fields=["object_type", "object_id"], name="audit_object")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
