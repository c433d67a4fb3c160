"""Django admin as a fallback; the staff pages under /manage/ are the main way to manage these.
Every change made here is audited (accounts.admin.AuditedAdmin)."""

from django.contrib import admin

from accounts.admin import AuditedAdmin
from vms.models import Host, Image, ImageCopy, TemplateVersion, VirtualMachine, VMTemplate


@admin.register(Host)
class HostAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "display_uri", "enabled", "online", "emulation", "last_checked"]
    exclude = ["uri"]  # may hold credentials
    readonly_fields = ["display_uri", "online", "capabilities", "last_checked", "last_error"]


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    extra = 0
    can_delete = False
    readonly_fields = ["version", "created_at", "created_by", "limits", "domain_xml"]


@admin.register(VMTemplate)
class VMTemplateAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "version", "active", "boot_mode", "default_vcpus", "default_memory_mib", "disk_source"]
    list_filter = ["active", "boot_mode", "disk_source"]
    # Versions and XML checks happen in vms.services.templates; edit through /manage/templates/.
    readonly_fields = ["version", "domain_xml", "created_at", "updated_at"]
    inlines = [TemplateVersionInline]


class ImageCopyInline(admin.TabularInline):
    model = ImageCopy
    extra = 0
    readonly_fields = ["host", "volume", "state", "progress", "error", "job", "updated_at"]


@admin.register(Image)
class ImageAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "kind", "format", "size", "volume", "created_at"]
    readonly_fields = [
        "kind",
        "format",
        "size",
        "virtual_size",
        "sha256",
        "file",
        "volume",
        "uploaded_by",
        "created_at",
    ]
    inlines = [ImageCopyInline]

    def has_add_permission(self, request) -> bool:
        return False  # uploads are checked by vms.services.images (/manage/images/)


@admin.register(VirtualMachine)
class VirtualMachineAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "host", "owner", "state", "managed", "template", "template_version"]
    list_filter = ["state", "managed", "host"]
    readonly_fields = ["uuid", "state", "state_changed_at", "domain_xml", "host", "template", "template_version"]
