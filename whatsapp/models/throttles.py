"""Throttle hits: the shared memory of the sliding-window limits (outbound sends, media downloads,
authentication attempts). Rows live in the database, so every process of the gateway (web, workers,
the MCP stdio process) counts against the same window, and the auth throttle survives restarts."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ThrottleHit(models.Model):
    key = models.CharField(max_length=200, help_text="<limit>:<device id>, e.g. outbound:42.")
    at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=20, blank=True,
                               help_text="Auth attempts: issued, failed or reset; empty for plain tokens.")

    class Meta:
        indexes = [models.Index(fields=["key", "at"])]

    def __str__(self) -> str:
        return f"{self.key} {self.at:%Y-%m-%d %H:%M:%S} {self.outcome}".rstrip()
