from django.contrib import admin

from accounts.admin import AuditedAdmin
from audit.models import AuditEntry
from portal.models import ApprovalPolicy, Quota, VMRequest
from vms.models import VMShare


@admin.register(VMRequest)
class VMRequestAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["id", "name", "requester", "template", "state", "created_at", "decided_by"]
    list_filter = ["state", "template"]
    search_fields = ["name", "requester__username"]
    # States change through the portal's services (approve, reject), never by editing here.
    readonly_fields = [f.name for f in VMRequest._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["template", "group", "mode"]
    list_filter = ["mode", "template"]


@admin.register(Quota)
class QuotaAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["__str__", "user", "group", "max_vms", "max_vcpus", "max_memory_mib", "max_disk_gib"]
    search_fields = ["user__username", "group__name"]


@admin.register(VMShare)
class VMShareAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["vm", "user", "level", "created_by", "created_at"]
    list_filter = ["level"]


@admin.register(AuditEntry)
class AuditEntryAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["at", "actor_name", "action", "object_type", "object_name", "result"]
    list_filter = ["result", "object_type"]
    search_fields = ["actor_name", "action", "object_name", "object_id"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # append-only: nobody deletes what happened
