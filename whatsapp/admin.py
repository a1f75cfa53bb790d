"""Admin registrations (plain; the live device pages come with the admin console issue)."""

from django.contrib import admin

from whatsapp.models import (
    App,
    Chat,
    Contact,
    Device,
    DeviceEvent,
    Message,
    ProcessHeartbeat,
    Reaction,
    Tenant,
    WebhookAttempt,
    WebhookDelivery,
)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "is_active", "token_hint", "webhook_url", "created_at")
    list_filter = ("tenant", "is_active")
    search_fields = ("name",)
    readonly_fields = ("token_hint", "token_issued_at", "created_at", "updated_at")


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("name", "app", "status", "connection_state", "phone_jid", "last_error_code", "last_message_at")
    list_filter = ("status", "connection_state", "app__tenant", "app")
    search_fields = ("name", "phone_jid", "lid")
    readonly_fields = ("status", "connection_state", "last_error_code", "phone_jid", "lid", "push_name",
                       "linked_at", "qr_code", "qr_expires_at", "event_sequence", "created_at", "updated_at",
                       "destroyed_at")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("display_name", "phone_jid", "lid", "device")
    list_filter = ("device",)
    search_fields = ("phone_jid", "lid", "push_name", "full_name", "custom_name")


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ("__str__", "jid", "kind", "device", "unread_count", "last_message_at")
    list_filter = ("kind", "device")
    search_fields = ("jid", "name")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("wa_id", "device", "chat", "direction", "type", "status", "error_code", "timestamp")
    list_filter = ("direction", "type", "status", "device")
    search_fields = ("wa_id", "sender_jid")
    raw_id_fields = ("chat",)


@admin.register(Reaction)
class ReactionAdmin(admin.ModelAdmin):
    list_display = ("message", "sender_jid", "emoji", "timestamp")
    raw_id_fields = ("message",)


@admin.register(DeviceEvent)
class DeviceEventAdmin(admin.ModelAdmin):
    list_display = ("device", "sequence", "type", "created_at")
    list_filter = ("type", "device")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    readonly_fields = ("number", "started_at", "duration_ms", "status_code", "error", "response_body")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "app", "state", "attempts", "last_status_code", "next_attempt_at", "created_at")
    list_filter = ("state", "app")
    raw_id_fields = ("event",)
    inlines = (WebhookAttemptInline,)


@admin.register(ProcessHeartbeat)
class ProcessHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("role", "host", "pid", "seen_at")
