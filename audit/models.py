"""The audit log: every tool call and API mutation, successful or not."""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class Surface(models.TextChoices):
    API = "api"
    MCP = "mcp"
    ADMIN = "admin"
    SYSTEM = "system"


class AuditLog(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Rows outlive what they describe: deleting an app keeps its history, with the link cleared.
    tenant = models.ForeignKey("whatsapp.Tenant", null=True, blank=True, on_delete=models.SET_NULL)
    app = models.ForeignKey("whatsapp.App", null=True, blank=True, on_delete=models.SET_NULL)
    device = models.ForeignKey("whatsapp.Device", null=True, blank=True, on_delete=models.SET_NULL)
    actor = models.CharField(max_length=200, help_text="app:<id>, user:<name>, mcp:stdio, system…")
    surface = models.CharField(max_length=10, choices=Surface.choices)
    action = models.CharField(max_length=200, help_text="Tool name or METHOD /path.")
    success = models.BooleanField()
    error_code = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["device", "-created_at"]), models.Index(fields=["app", "-created_at"])]

    def __str__(self) -> str:
        outcome = "ok" if self.success else self.error_code or "failed"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {outcome}"

    @classmethod
    def record(cls, *, actor: str, surface: str, action: str, success: bool, error_code: str = "",
               request_id: str = "", details: dict[str, Any] | None = None, **links: Any) -> AuditLog:
        """Write one row. ``links`` name what it concerns: ``app=<App>`` or ``app_id=<uuid>`` (likewise
        ``tenant`` and ``device``)."""
        return cls.objects.create(actor=actor, surface=surface, action=action, success=success,
                                  error_code=error_code, request_id=request_id, details=details or {}, **links)
