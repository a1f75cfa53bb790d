"""The per-device append-only event log: the one source for webhooks, live admin pages, MCP
notifications and ``wait_for_message``. Consumers remember the last ``sequence`` they handled and
resume from it, so a consumer that was down loses nothing."""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone


class EventType(models.TextChoices):
    MESSAGE = "message"
    RECEIPT = "receipt"
    MESSAGE_REVOKED = "message_revoked"
    MESSAGE_EDITED = "message_edited"
    REACTION = "reaction"
    PRESENCE = "presence"
    CHAT_PRESENCE = "chat_presence"
    DEVICE_QR_GENERATED = "device_qr_generated"
    DEVICE_CONNECTED = "device_connected"
    DEVICE_DISCONNECTED = "device_disconnected"
    DEVICE_LOGGED_OUT = "device_logged_out"
    DEVICE_DESTROYED = "device_destroyed"
    APPROVAL_RESOLVED = "approval_resolved"
    WARNING = "warning"


class DeviceEvent(models.Model):
    device = models.ForeignKey("whatsapp.Device", on_delete=models.CASCADE, related_name="events")
    sequence = models.PositiveBigIntegerField(help_text="Increases by one per event of this device.")
    type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("device", "sequence")
        constraints = [
            models.UniqueConstraint(fields=["device", "sequence"], name="event_sequence_unique_per_device")
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.type}"

    @classmethod
    def append(cls, device_id: Any, type: str, payload: dict[str, Any] | None = None) -> DeviceEvent:
        """Append an event with the device's next sequence number (see :meth:`append_many`)."""
        return cls.append_many(device_id, [(type, payload or {})])[0]

    @classmethod
    def append_many(cls, device_id: Any, events: list[tuple[str, dict[str, Any]]]) -> list[DeviceEvent]:
        """Append events in order with consecutive sequence numbers: one counter update and one
        insert, however many events (the runner records a batch of sends this way).

        The counter lives on the device row: the UPDATE locks that row until the transaction ends
        (PostgreSQL) or the write lock serialises writers (SQLite, IMMEDIATE transactions), so two
        concurrent appends can never take the same number, and a rolled-back append leaves no gap.
        """
        from whatsapp.models.devices import Device

        if not events:
            return []
        with transaction.atomic():
            updated = Device.objects.filter(pk=device_id).update(event_sequence=F("event_sequence") + len(events))
            if not updated:
                raise Device.DoesNotExist(f"device {device_id} does not exist")
            last, app_id, url, wanted, active = Device.objects.filter(pk=device_id).values_list(
                "event_sequence", "app_id", "app__webhook_url", "app__webhook_events", "app__is_active").get()
            first = last - len(events) + 1
            appended = cls.objects.bulk_create([
                cls(device_id=device_id, sequence=first + i, type=type, payload=payload or {})
                for i, (type, payload) in enumerate(events)
            ])
            if url and active:
                _plan_deliveries(app_id, device_id, url, wanted, appended)
            return appended


def _plan_deliveries(app_id: Any, device_id: Any, url: str, wanted: list[str] | None,
                     events: list[DeviceEvent]) -> None:
    """One delivery row per event the app subscribes to, written in the event's own transaction: an
    event is never stored without its deliveries, nor a delivery without its event. An app without a
    webhook URL gets none (wa-server: an empty path sends nothing and records no failure)."""
    from whatsapp import wakeups
    from whatsapp.models.webhooks import WebhookDelivery

    rows = [WebhookDelivery(app_id=app_id, device_id=device_id, event_id=event.pk, sequence=event.sequence,
                            event_type=event.type, url=url, next_attempt_at=event.created_at)
            for event in events if not wanted or event.type in wanted]
    if rows:
        WebhookDelivery.objects.bulk_create(rows)
        wakeups.notify_on_commit(WEBHOOK_WAKEUP, "dispatch")


#: The wake-up channel of the webhook dispatcher (see ``whatsapp.webhooks.dispatcher``).
WEBHOOK_WAKEUP = "webhooks"
