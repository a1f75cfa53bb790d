"""Approval requests: a question sent over WhatsApp, answered by reply, operator, API or the clock."""

from __future__ import annotations

import secrets
import string
import time
from datetime import timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import DeviceEvent, EventType

MIN_TIMEOUT_S = 10
MAX_TIMEOUT_S = 3600
DEFAULT_TIMEOUT_S = 300
_BASE36 = string.digits + string.ascii_lowercase


class ApprovalStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


class DecisionSource(models.TextChoices):
    REPLY = "reply"
    OPERATOR = "operator"
    API = "api"
    EXPIRY = "expiry"


def new_approval_id() -> str:
    """``approval_<epoch ms>_<7 random base-36 chars>``, the original MCP server's id format."""
    return f"approval_{int(time.time() * 1000)}_{''.join(secrets.choice(_BASE36) for _ in range(7))}"


class Approval(models.Model):
    id = models.CharField(primary_key=True, max_length=64, default=new_approval_id, editable=False)
    device = models.ForeignKey("whatsapp.Device", on_delete=models.CASCADE, related_name="approvals")
    recipient_jid = models.CharField(max_length=64)
    action = models.TextField()
    details = models.TextField(blank=True)
    timeout_seconds = models.PositiveIntegerField(
        default=DEFAULT_TIMEOUT_S, validators=[MinValueValidator(MIN_TIMEOUT_S), MaxValueValidator(MAX_TIMEOUT_S)]
    )
    status = models.CharField(max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    request_wa_id = models.CharField(max_length=128, blank=True, help_text="The WhatsApp message that asked.")
    response_text = models.TextField(blank=True)
    decided_by = models.CharField(max_length=10, choices=DecisionSource.choices, blank=True)
    decided_by_user = models.CharField(max_length=150, blank=True, help_text="Operator who decided.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["device", "recipient_jid", "status"]),
        ]

    def __str__(self) -> str:
        return self.id

    def save(self, *args: object, **kwargs: object) -> None:
        if self.expires_at is None:
            self.expires_at = (self.created_at or timezone.now()) + timedelta(seconds=self.timeout_seconds)
        super().save(*args, **kwargs)

    @staticmethod
    def validate_timeout(timeout_seconds: object) -> int:
        if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, (int, float)) or not (
            MIN_TIMEOUT_S <= timeout_seconds <= MAX_TIMEOUT_S
        ):
            raise WhatsAppError(
                ErrorCode.APPROVAL_INVALID_TIMEOUT,
                f"timeout must be between {MIN_TIMEOUT_S} and {MAX_TIMEOUT_S} seconds, got {timeout_seconds!r}.",
                details={"field": "timeout"},
            )
        return int(timeout_seconds)

    @classmethod
    def discard_unsent(cls, device_id: object, failed_wa_ids: list[str]) -> int:
        """Delete the pending approvals whose request message WhatsApp refused (the runner calls this
        as it records failed sends): nobody received them, so nobody could ever answer them."""
        if not failed_wa_ids:
            return 0
        return cls.objects.filter(device_id=device_id, request_wa_id__in=failed_wa_ids,
                                  status=ApprovalStatus.PENDING).delete()[0]

    @property
    def seconds_left(self) -> int:
        if self.status != ApprovalStatus.PENDING:
            return 0
        return max(0, int((self.expires_at - timezone.now()).total_seconds()))

    def respond(self, approved: bool, source: str, *, text: str = "", user: str = "") -> None:
        """Decide a pending approval. The first decision wins: the write only succeeds while the
        approval is pending and not overdue. An answer after the deadline expires the approval on
        the spot (so it never lingers as pending) and is refused with ``APPROVAL_TIMEOUT``."""
        status = ApprovalStatus.APPROVED if approved else ApprovalStatus.DENIED
        now = timezone.now()
        pending = Approval.objects.filter(pk=self.pk, status=ApprovalStatus.PENDING, expires_at__gt=now)
        if self._resolve(pending, status=status, decided_by=source, decided_by_user=user, response_text=text,
                         responded_at=now):
            return
        self.refresh_from_db()
        if self.status == ApprovalStatus.PENDING and not self.expire():  # overdue, but someone else won
            self.refresh_from_db()
        if self.status == ApprovalStatus.EXPIRED:
            raise WhatsAppError(ErrorCode.APPROVAL_TIMEOUT, details={"request_id": self.pk})
        raise WhatsAppError(ErrorCode.APPROVAL_ALREADY_RESPONDED,
                            details={"request_id": self.pk, "status": self.status})

    def expire(self) -> bool:
        """Expire the approval if it is pending and overdue. Returns whether it did."""
        now = timezone.now()
        overdue = Approval.objects.filter(pk=self.pk, status=ApprovalStatus.PENDING, expires_at__lte=now)
        return self._resolve(overdue, status=ApprovalStatus.EXPIRED, decided_by=DecisionSource.EXPIRY,
                             responded_at=now)

    def _resolve(self, pending: models.QuerySet, **changes: object) -> bool:
        """Apply ``changes`` if ``pending`` still matches, with its ``approval_resolved`` event."""
        with transaction.atomic():
            if not pending.update(**changes):
                return False
            for field, value in changes.items():
                setattr(self, field, value)
            DeviceEvent.append(self.device_id, EventType.APPROVAL_RESOLVED, {
                "request_id": self.pk, "status": self.status, "source": self.decided_by,
                "responded_at": self.responded_at, "recipient_jid": self.recipient_jid,
            })
        return True
