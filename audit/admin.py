from django.contrib import admin

from audit.models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only: the audit log is written by the gateway, never edited."""

    list_display = ("created_at", "actor", "surface", "action", "success", "error_code", "device")
    list_filter = ("surface", "success", "error_code")
    search_fields = ("actor", "action", "request_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
