"""Webhook deliveries: one row per (app, event), and one row per attempt.

Delivery state lives here rather than in the broker, so restarts lose nothing and any delivery can
be replayed. ``request_id`` is sent as ``X-WA-Request-ID`` and stays the same across retries.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class DeliveryState(models.TextChoices):
    PENDING = "pending"          # waiting for its (next) attempt
    SUCCEEDED = "succeeded"      # a 2xx was received
    FAILED = "failed"            # the last attempt failed; another is scheduled
    DEAD = "dead"                # retries exhausted; only a replay sends it again


class WebhookDelivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey("whatsapp.App", on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.ForeignKey("whatsapp.DeviceEvent", on_delete=models.CASCADE, related_name="deliveries")
    url = models.CharField(max_length=2000)
    request_id = models.UUIDField(default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["app", "event"], name="delivery_unique_per_app_event")]
        indexes = [models.Index(fields=["app", "state"]), models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.url} ({self.state})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_body = models.TextField(blank=True, help_text="First 2 KiB of the receiver's answer.")

    class Meta:
        ordering = ("delivery", "number")
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_unique")]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"
