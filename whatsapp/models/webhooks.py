"""Webhook deliveries: one row per (app, event), one row per attempt, and one stream per (app, device).

Delivery state lives here rather than in the broker, so restarts lose nothing and any delivery can
be replayed. ``request_id`` is sent as ``X-WA-Request-ID`` (and the Standard Webhooks ``webhook-id``)
and stays the same across retries and replays, so receivers can deduplicate.

A **stream** is the ordered queue of one app's deliveries for one device: events reach the receiver
in ``sequence`` order, and a failing event holds the later ones back until it succeeds or is
dead-lettered. Only the holder of a stream's lease delivers from it, which is what keeps the order
when several workers run.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone


class DeliveryState(models.TextChoices):
    PENDING = "pending"          # waiting for its first attempt (or for a replay)
    SUCCEEDED = "succeeded"      # a 2xx was received
    FAILED = "failed"            # the last attempt failed; another is scheduled
    DEAD = "dead"                # retries exhausted (or the app stopped delivering); only a replay sends it again


#: States a stream still has to deliver, in ``sequence`` order.
OPEN_STATES = (DeliveryState.PENDING, DeliveryState.FAILED)


class WebhookDeliveryQuerySet(models.QuerySet):
    def open(self) -> WebhookDeliveryQuerySet:
        return self.filter(state__in=OPEN_STATES)


class WebhookDelivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey("whatsapp.App", on_delete=models.CASCADE, related_name="webhook_deliveries")
    device = models.ForeignKey("whatsapp.Device", on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.ForeignKey("whatsapp.DeviceEvent", on_delete=models.CASCADE, related_name="deliveries")
    # Copied from the event so that a stream's order and the delivery log's filters need no join.
    sequence = models.PositiveBigIntegerField()
    event_type = models.CharField(max_length=40)
    url = models.CharField(max_length=2000, blank=True, help_text="The URL of the last attempt (or the one planned).")
    request_id = models.UUIDField(default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    retry_until = models.DateTimeField(
        null=True, blank=True, help_text="Set at the first attempt: retries stop (dead letter) after this.")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error_code = models.CharField(max_length=64, blank=True, help_text="An ErrorCode name.")
    last_error = models.TextField(blank=True)
    replays = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["app", "event"], name="delivery_unique_per_app_event")]
        indexes = [
            models.Index(fields=["app", "state"]),
            # The heads of the streams: small (open deliveries only), read by the dispatcher and workers.
            models.Index(fields=["app", "device", "sequence"], condition=Q(state__in=OPEN_STATES),
                         name="delivery_open_stream"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.event_type} → {self.url or '(no URL)'} ({self.state})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    url = models.CharField(max_length=2000, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, help_text="An ErrorCode name.")
    error = models.TextField(blank=True)
    response_body = models.TextField(blank=True, help_text="First 2 KiB of the receiver's answer.")

    class Meta:
        ordering = ("delivery", "number")
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_unique")]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error_code or self.error}"


class WebhookStream(models.Model):
    """The ordered deliveries of one app for one device, and who may deliver them right now.

    ``leased_until``/``lease_token``: the dispatcher leases a due stream before it hands it to a
    worker task; the task renews the lease before each attempt and clears it when done. A worker that
    dies holding a lease only delays the stream until the lease runs out. ``not_before`` is when the
    stream's head may next be tried (a failed head's retry time), so the later events wait with it.
    ``endpoint`` (scheme://host:port of the last dispatch) lets the dispatcher cap how many streams
    deliver to one receiver at once.
    """

    app = models.ForeignKey("whatsapp.App", on_delete=models.CASCADE, related_name="webhook_streams")
    device = models.ForeignKey("whatsapp.Device", on_delete=models.CASCADE, related_name="webhook_streams")
    endpoint = models.CharField(max_length=300, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "device"], name="webhook_stream_unique")]
        indexes = [models.Index(fields=["endpoint", "leased_until"])]

    def __str__(self) -> str:
        return f"stream {self.app_id}/{self.device_id}"

    def renew(self, token: uuid.UUID, seconds: float) -> bool:
        """Extend the lease ``token`` holds; False when it was lost (expired and taken by another)."""
        until = timezone.now() + timedelta(seconds=seconds)
        renewed = WebhookStream.objects.filter(pk=self.pk, lease_token=token).update(leased_until=until)
        if renewed:
            self.leased_until = until
        return bool(renewed)

    def release(self, token: uuid.UUID, not_before: datetime | None) -> bool:
        """Give the lease up, leaving the stream due again at ``not_before`` (None: at once)."""
        return bool(WebhookStream.objects.filter(pk=self.pk, lease_token=token).update(
            leased_until=None, lease_token=None, not_before=not_before))
