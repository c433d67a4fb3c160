# Sharing a VM is access control of VMs: the model moved here from the portal app. The table
# (portal_vmshare) and its rows stay where they are; only the owning app changes in Django's state.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("vms", "0003_template_versions_images"),
        ("portal", "0001_initial"),  # made the table
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="VMShare",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("level", models.CharField(choices=[("view", "View"), ("operate", "View and operate")], default="view", max_length=8, verbose_name="access")),
                        ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                        ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="shared by")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="vm_shares", to=settings.AUTH_USER_MODEL, verbose_name="user")),
                        ("vm", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="shares", to="vms.virtualmachine", verbose_name="virtual machine")),
                    ],
                    options={
                        "verbose_name": "VM share",
                        "verbose_name_plural": "VM shares",
                        "db_table": "portal_vmshare",
                        "ordering": ["vm", "user"],
                        "constraints": [models.UniqueConstraint(fields=("vm", "user"), name="vm_share_unique")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
