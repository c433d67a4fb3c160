"""Read-only: jobs change state only through jobs/services.py, never through a form."""

from django.contrib import admin

from accounts.admin import AuditedAdmin
from jobs.models import Job


@admin.register(Job)
class JobAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["id", "kind", "target", "state", "progress", "attempts", "requested_by", "created_at"]
    list_filter = ["state", "kind"]
    search_fields = ["target", "kind", "requested_by__username"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
