"""Devices: one linked WhatsApp account each, and the status machine they move through.

```
create -> qr_generated -> (scan / pairing code) -> connected
        \\-> (QR window over) -> expired -> regenerate -> qr_generated
connected -> disconnect -> disconnected -> regenerate -> qr_generated
any non-destroyed -> destroy -> destroyed (terminal; the name is reusable, the id is not)
```

Every transition is a compare-and-set UPDATE guarded by the allowed source statuses, so two
processes racing on one device cannot both win, and each successful transition appends its
lifecycle event to the device's event log in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from whatsapp import jids
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models.events import DeviceEvent, EventType
from whatsapp.models.tenancy import App


class DeviceStatus(models.TextChoices):
    QR_GENERATED = "qr_generated"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    EXPIRED = "expired"
    DESTROYED = "destroyed"


class ConnectionState(models.TextChoices):
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


S = DeviceStatus
ALIVE = (S.QR_GENERATED, S.CONNECTED, S.DISCONNECTED, S.EXPIRED)


class Device(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=DeviceStatus.choices, default=S.QR_GENERATED)
    connection_state = models.CharField(
        max_length=20, choices=ConnectionState.choices, default=ConnectionState.CLOSED
    )
    last_error_code = models.CharField(max_length=64, blank=True, help_text="An ErrorCode name.")

    phone_jid = models.CharField(max_length=64, blank=True, help_text="Our phone JID once linked.")
    lid = models.CharField(max_length=64, blank=True, help_text="Our LID once linked.")
    push_name = models.CharField(max_length=200, blank=True)
    session_jid = models.CharField(
        max_length=80, blank=True, help_text="JID (with device number) the WhatsApp session is stored under."
    )
    linked_at = models.DateTimeField(null=True, blank=True)

    qr_code = models.TextField(blank=True, help_text="The QR string currently shown (rotates).")
    qr_expires_at = models.DateTimeField(null=True, blank=True, help_text="End of the whole QR window.")

    # Policy overrides; NULL inherits the app's value, which inherits the environment's.
    allowed_contacts = models.TextField(null=True, blank=True)
    disabled_tools = models.TextField(null=True, blank=True)
    rate_limit_per_min = models.PositiveIntegerField(null=True, blank=True)

    event_sequence = models.PositiveBigIntegerField(default=0, editable=False)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["app", "name"],
                condition=~models.Q(status="destroyed"),
                name="device_name_unique_per_app_while_alive",
            )
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.name

    # --- creation -------------------------------------------------------------------------

    @classmethod
    def create(cls, app: App, name: str) -> Device:
        """A new device waiting for its first QR. Names are unique among the app's live devices."""
        name = (name or "").strip()
        if not name:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "device_name is required.",
                                details={"field": "device_name"})
        if len(name) > 200:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "device_name is longer than 200 characters.",
                                details={"field": "device_name"})
        try:
            with transaction.atomic():
                return cls.objects.create(app=app, name=name)
        except IntegrityError:
            raise WhatsAppError(
                ErrorCode.CONFLICT, f"A device named {name!r} already exists for this app.",
                details={"field": "device_name"},
            ) from None

    # --- guards ---------------------------------------------------------------------------

    @property
    def is_destroyed(self) -> bool:
        return self.status == S.DESTROYED

    @property
    def qr_is_valid(self) -> bool:
        return (self.status == S.QR_GENERATED and self.qr_expires_at is not None
                and self.qr_expires_at > timezone.now())

    def ensure_alive(self) -> None:
        if self.is_destroyed:
            raise WhatsAppError(ErrorCode.DEVICE_DESTROYED, details={"device_id": str(self.pk)})

    def ensure_connected(self) -> None:
        """Operations that need WhatsApp refuse unless the session is up."""
        self.ensure_alive()
        if self.status != S.CONNECTED or self.connection_state != ConnectionState.OPEN:
            raise WhatsAppError(
                ErrorCode.MESSAGE_NOT_CONNECTED,
                details={"status": self.status, "connection_state": self.connection_state},
            )

    def ensure_qr_reset_allowed(self) -> None:
        """A new QR may be requested only when no QR is valid and no session is active."""
        self.ensure_alive()
        if self.status == S.CONNECTED or self.qr_is_valid:
            raise WhatsAppError(
                ErrorCode.QR_RESET_NOT_ALLOWED,
                details={
                    "status": self.status,
                    "qr_expires_at": self.qr_expires_at.isoformat() if self.qr_expires_at else None,
                },
            )

    # --- transitions ----------------------------------------------------------------------

    def _transition(self, allowed_from: tuple[str, ...], event: str | None,
                    event_payload: dict[str, Any] | None = None, **changes: Any) -> None:
        """Apply ``changes`` if the stored status is in ``allowed_from``; else raise the enum's error.

        The guard is evaluated by the database (compare-and-set), not against this possibly stale
        instance, and the lifecycle event is appended in the same transaction.
        """
        changes["updated_at"] = timezone.now()
        with transaction.atomic():
            updated = Device.objects.filter(pk=self.pk, status__in=allowed_from).update(**changes)
            if not updated:
                self.refresh_from_db(fields=["status"])
                self.ensure_alive()
                target = changes.get("status", self.status)
                raise WhatsAppError(
                    ErrorCode.CONFLICT,
                    f"Device is {self.status}; cannot move to {target}.",
                    details={"status": self.status, "requested": target},
                )
            computed = [f for f, v in changes.items() if hasattr(v, "resolve_expression")]
            for field, value in changes.items():
                if field not in computed:
                    setattr(self, field, value)
            if computed:
                self.refresh_from_db(fields=computed)
            if event:
                DeviceEvent.append(self.pk, event, {**self.lifecycle_payload(), **(event_payload or {})})

    def record_qr(self, code: str, window_ends_at: datetime) -> None:
        """WhatsApp issued a QR code (the first of a window, or a rotation within it)."""
        self._transition(
            (S.QR_GENERATED, S.EXPIRED, S.DISCONNECTED), EventType.DEVICE_QR_GENERATED,
            {"qr_code": code},
            status=S.QR_GENERATED, qr_code=code, qr_expires_at=window_ends_at,
            connection_state=ConnectionState.CONNECTING, last_error_code="",
        )

    def mark_qr_expired(self) -> None:
        """The QR window closed without a scan."""
        self._transition(
            (S.QR_GENERATED,), EventType.DEVICE_DISCONNECTED,
            {"reason": "qr_expired", "permanent": False},
            status=S.EXPIRED, qr_code="", connection_state=ConnectionState.CLOSED,
            last_error_code=ErrorCode.AUTH_QR_EXPIRED.code,
        )

    def mark_connected(self, phone_jid: str, lid: str = "", push_name: str = "", session_jid: str = "") -> None:
        """The session is up: after a scan or pairing code, or a reconnect of a stored session."""
        phone_jid = jids.normalize(phone_jid)
        changes: dict[str, Any] = {
            "status": S.CONNECTED, "connection_state": ConnectionState.OPEN, "last_error_code": "",
            "phone_jid": phone_jid, "qr_code": "", "qr_expires_at": None,
        }
        if lid:
            changes["lid"] = jids.normalize(lid)
        if push_name:
            changes["push_name"] = push_name
        if session_jid:
            changes["session_jid"] = session_jid
        # A scan or pairing code is a new link; a stored session coming back keeps its link time.
        # Decided by the database from the stored row, not from this possibly stale instance.
        changes["linked_at"] = Case(
            When(Q(status=S.QR_GENERATED) | Q(linked_at__isnull=True) | ~Q(phone_jid=phone_jid),
                 then=Value(timezone.now())),
            default=F("linked_at"),
        )
        self._transition((S.QR_GENERATED, S.CONNECTED, S.DISCONNECTED), EventType.DEVICE_CONNECTED, **changes)

    def set_connection_state(self, state: str, error: ErrorCode | None = None) -> None:
        """Transient detail (reconnecting, open…) without changing the status."""
        changes: dict[str, Any] = {"connection_state": state}
        if error is not None:
            changes["last_error_code"] = error.code
        elif state == ConnectionState.OPEN:
            changes["last_error_code"] = ""
        self._transition(ALIVE, None, **changes)

    def mark_disconnected(self, error: ErrorCode | None, *, permanent: bool, reason: str = "",
                          session_cleared: bool | None = None) -> None:
        """The session ended: a logout (ours or the phone's), a permanent reason, or transient drops
        after the last reconnect attempt. Permanent reasons emit ``device_logged_out`` as well.
        ``session_cleared`` (default: ``permanent``) forgets the stored session's JID."""
        extra: dict[str, Any] = {}
        if permanent if session_cleared is None else session_cleared:
            extra["session_jid"] = ""
        payload = {"reason": reason or (error.api_code if error else "disconnected"), "permanent": permanent}
        if error is not None:
            payload["error_code"] = error.code
        with transaction.atomic():  # both events or neither
            self._transition(
                (S.CONNECTED, S.QR_GENERATED, S.DISCONNECTED), EventType.DEVICE_DISCONNECTED, payload,
                status=S.DISCONNECTED, connection_state=ConnectionState.CLOSED, qr_code="", qr_expires_at=None,
                last_error_code=error.code if error else "", **extra,
            )
            if permanent:
                DeviceEvent.append(self.pk, EventType.DEVICE_LOGGED_OUT, {**self.lifecycle_payload(), **payload})

    def request_reconnect(self) -> None:
        """Bring a stored session back (``authenticate`` without a phone number): the device is
        linked again in the database's eyes, so the fleet starts its runner, which connects with the
        stored session; it stays ``connecting`` until WhatsApp confirms, and a session WhatsApp
        refuses ends as a disconnect again."""
        if not self.session_jid:
            raise WhatsAppError(ErrorCode.AUTH_SESSION_EXPIRED, "No stored session to reconnect.",
                                details={"status": self.status})
        self._transition((S.DISCONNECTED,), None, status=S.CONNECTED,
                         connection_state=ConnectionState.CONNECTING, last_error_code="")

    def destroy(self) -> None:
        """Terminal: the device keeps its history but can never be used again."""
        from whatsapp import wakeups

        self.ensure_alive()
        wakeups.notify_on_commit("device", self.pk)  # its runner logs out and stops now, not at its next poll
        self._transition(
            ALIVE, EventType.DEVICE_DESTROYED,
            status=S.DESTROYED, connection_state=ConnectionState.CLOSED, qr_code="", qr_expires_at=None,
            destroyed_at=timezone.now(),
        )

    def append_event(self, type: str, payload: dict[str, Any] | None = None) -> DeviceEvent:
        return DeviceEvent.append(self.pk, type, payload)

    def lifecycle_payload(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "connection_state": self.connection_state,
            "phone_jid": self.phone_jid or None,
            "lid": self.lid or None,
            "qr_expires_at": self.qr_expires_at,
            "linked_at": self.linked_at,
            "last_error_code": self.last_error_code or None,
        }
