"""Liveness of the background processes, as seen through the database they all share."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.db import models
from django.utils import timezone


class ProcessHeartbeat(models.Model):
    """The last time a named background role (``beat``, later each fleet) proved it was alive."""

    role = models.CharField(max_length=100, primary_key=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.role} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, role: str) -> ProcessHeartbeat:
        heartbeat, _ = cls.objects.update_or_create(
            role=role, defaults={"host": socket.gethostname(), "pid": os.getpid(), "seen_at": timezone.now()}
        )
        return heartbeat

    def age(self) -> timedelta:
        return timezone.now() - self.seen_at
