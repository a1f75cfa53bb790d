from django.contrib import admin

from media.models import MediaFile


@admin.register(MediaFile)
class MediaFileAdmin(admin.ModelAdmin):
    list_display = ("path", "app", "device", "direction", "mime_type", "size", "created_at")
    list_filter = ("direction", "app")
    raw_id_fields = ("message",)
