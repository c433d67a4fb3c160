# The audit log (now the audit app) and VM shares (now the vms app) left the portal. Their tables
# stay; the portal only forgets the models in Django's state, after their new owners took them.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("portal", "0001_initial"),
        ("audit", "0001_initial"),
        ("vms", "0004_vmshare"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEntry"), migrations.DeleteModel(name="VMShare")],
            database_operations=[],
        ),
    ]
