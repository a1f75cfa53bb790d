"""Media files stored by the gateway, at ``media/{app_id}/{device_id}-{message_id}.{ext}``."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone


class MediaDirection(models.TextChoices):
    INBOUND = "in"
    OUTBOUND = "out"


def storage_path(app_id: object, device_id: object, wa_id: str, extension: str) -> str:
    """The relative path (as API clients see it in ``media_path``) of one message's media."""
    safe_id = "".join(ch for ch in wa_id if ch.isalnum() or ch in "-_")
    ext = "".join(ch for ch in extension.lstrip(".") if ch.isalnum()).lower() or "bin"
    return f"media/{app_id}/{device_id}-{safe_id}.{ext}"


class MediaFile(models.Model):
    app = models.ForeignKey("whatsapp.App", on_delete=models.CASCADE, related_name="media_files")
    device = models.ForeignKey("whatsapp.Device", on_delete=models.CASCADE, related_name="media_files")
    message = models.OneToOneField(
        "whatsapp.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="media_file"
    )
    path = models.CharField(max_length=500, unique=True, help_text="Relative to MEDIA_ROOT.")
    direction = models.CharField(max_length=3, choices=MediaDirection.choices)
    mime_type = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["app", "created_at"])]

    def __str__(self) -> str:
        return self.path

    @property
    def absolute_path(self) -> Path:
        """The file on disk; refuses a stored path that would leave MEDIA_ROOT."""
        root = Path(settings.MEDIA_ROOT).resolve()
        full = (root / self.path).resolve()
        if not full.is_relative_to(root):
            raise ValueError(f"media path escapes MEDIA_ROOT: {self.path!r}")
        return full
