"""Idempotency keys of API sends: the same key with the same body answers the first response; with
another body it is refused (``idempotency_key_reused``). Kept 24 hours."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models.devices import Device
from whatsapp.models.messages import Message
from whatsapp.models.tenancy import App

RETENTION = timedelta(hours=24)


class IdempotencyKey(models.Model):
    """One client key of one app. The row is written in the transaction that accepts the message, so
    a key never exists without its message nor a message without its key."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the device and the canonical body.")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "key"], name="idempotency_key_unique_per_app")]

    def __str__(self) -> str:
        return f"{self.app_id}:{self.key}"

    @classmethod
    def find(cls, app: App, key: str) -> IdempotencyKey | None:
        """The live row of ``key`` (rows past the retention count as absent)."""
        return cls.objects.filter(app=app, key=key, created_at__gte=timezone.now() - RETENTION).first()

    @classmethod
    def claim(cls, app: App, key: str, fingerprint: str, device: Device, message: Message) -> IdempotencyKey | None:
        """Record ``key`` for ``message`` — call it inside the transaction that accepts the message.
        ``None`` when another request holds the key (it won the race to the unique constraint; on
        PostgreSQL this returns only once that request committed). A row past the retention is
        dropped first, so an old key is reusable even before the purge ran."""
        cls.objects.filter(app=app, key=key, created_at__lt=timezone.now() - RETENTION).delete()
        try:
            with transaction.atomic():
                return cls.objects.create(app=app, key=key, fingerprint=fingerprint, device=device, message=message)
        except IntegrityError:
            return None

    def ensure_same_request(self, fingerprint: str) -> None:
        if fingerprint != self.fingerprint:
            raise WhatsAppError(ErrorCode.IDEMPOTENCY_KEY_REUSED, details={"idempotency_key": self.key,
                                                                           "reason": "idempotency_key_reuse"})

    def remember(self, status: int, body: dict[str, Any]) -> None:
        """Keep the first answer, so a retry sees exactly what the first caller saw."""
        if self.response_status is None:
            self.response_status, self.response_body = status, body
            IdempotencyKey.objects.filter(pk=self.pk, response_status__isnull=True).update(
                response_status=status, response_body=body)

    @classmethod
    def purge_expired(cls) -> int:
        return cls.objects.filter(created_at__lt=timezone.now() - RETENTION).delete()[0]
