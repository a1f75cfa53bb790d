from django.contrib import admin

from approvals.models import Approval


@admin.register(Approval)
class ApprovalAdmin(admin.ModelAdmin):
    list_display = ("id", "device", "recipient_jid", "status", "decided_by", "created_at", "expires_at")
    list_filter = ("status", "decided_by", "device")
    search_fields = ("id", "recipient_jid")
