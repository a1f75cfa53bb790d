"""Plain admin registrations: the simulated network is inspectable (and editable) like any table."""

from django.contrib import admin

from whatsapp.engine.simulator.models import (
    MediaBlob,
    NetworkRecord,
    PhoneAction,
    SimDeviceState,
    SimFault,
    SimSession,
    WorldContact,
    WorldGroup,
)


@admin.register(SimSession)
class SimSessionAdmin(admin.ModelAdmin):
    list_display = ("device_id", "phone_jid", "lid", "push_name", "created_at")
    search_fields = ("device_id", "phone_jid", "lid")


@admin.register(SimDeviceState)
class SimDeviceStateAdmin(admin.ModelAdmin):
    list_display = ("device_id", "connected", "linking", "qr_index", "window_ends_at", "pairing_code", "updated_at")


@admin.register(PhoneAction)
class PhoneActionAdmin(admin.ModelAdmin):
    list_display = ("id", "device_id", "action", "created_at", "claimed_at", "handled_at", "deferred")
    list_filter = ("action", "deferred")
    search_fields = ("device_id",)


@admin.register(NetworkRecord)
class NetworkRecordAdmin(admin.ModelAdmin):
    list_display = ("id", "device_id", "kind", "wa_id", "chat_jid", "created_at")
    list_filter = ("kind",)
    search_fields = ("device_id", "wa_id", "chat_jid")


@admin.register(SimFault)
class SimFaultAdmin(admin.ModelAdmin):
    list_display = ("id", "device_id", "kind", "remaining", "seconds", "until", "created_at")
    list_filter = ("kind",)


@admin.register(WorldContact)
class WorldContactAdmin(admin.ModelAdmin):
    list_display = ("phone_jid", "lid", "name", "on_whatsapp", "reads", "online", "source")
    list_filter = ("on_whatsapp", "source")
    search_fields = ("phone_jid", "lid", "name")


@admin.register(WorldGroup)
class WorldGroupAdmin(admin.ModelAdmin):
    list_display = ("jid", "name", "is_announce", "is_locked", "me_role", "source")
    search_fields = ("jid", "name")


@admin.register(MediaBlob)
class MediaBlobAdmin(admin.ModelAdmin):
    list_display = ("token", "mime_type", "size", "sha256", "expired", "created_at")
    exclude = ("data",)
