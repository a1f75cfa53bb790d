"""A device's state for people and agents: the session, recent trouble and what the store holds
(the MCP tool get_connection_status, reference §2.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone

from approvals.models import Approval, ApprovalStatus
from audit.models import AuditLog
from whatsapp.models import Chat, ConnectionState, Device, DeviceEvent, DeviceStatus, EventType, Message


@dataclass(frozen=True)
class StoreStats:
    chats: int  # the unified list: a person's phone and LID chats count once
    messages: int
    unread: int
    pending_approvals: int
    newest_message_at: datetime | None


@dataclass(frozen=True)
class DeviceState:
    state: str  # "connected", "disconnected" (a session is stored) or "unlinked"
    jid: str
    connected_since: datetime | None
    reconnecting: bool
    last_error_code: str
    last_disconnect_reason: str
    recent_errors: int  # failed calls in the last five minutes
    stats: StoreStats


def store_stats(device: Device) -> StoreStats:
    chats = Chat.objects.filter(device=device).aggregate(
        people=Count("contact", distinct=True), loose=Count("pk", filter=Q(contact__isnull=True)))
    messages = Message.objects.filter(device=device).aggregate(
        total=Count("pk"), newest=Max("timestamp"),
        unread=Count("pk", filter=Q(direction="in", from_me=False, from_history=False, read_at__isnull=True)))
    pending = Approval.objects.filter(device=device, status=ApprovalStatus.PENDING,
                                      expires_at__gt=timezone.now()).count()
    return StoreStats(chats["people"] + chats["loose"], messages["total"], messages["unread"], pending,
                      messages["newest"])


def device_state(device: Device) -> DeviceState:
    device.refresh_from_db()
    connected = device.status == DeviceStatus.CONNECTED and device.connection_state == ConnectionState.OPEN
    if connected:
        state = "connected"
    elif device.session_jid or device.status == DeviceStatus.CONNECTED:
        state = "disconnected"
    else:
        state = "unlinked"
    events = DeviceEvent.objects.filter(device=device).order_by("-sequence")
    since = events.filter(type=EventType.DEVICE_CONNECTED).values_list("created_at", flat=True).first()
    reason = (events.filter(type=EventType.DEVICE_DISCONNECTED).exclude(payload__reason="qr_expired")
              .values_list("payload__reason", flat=True).first()) or ""
    errors = AuditLog.objects.filter(device=device, success=False,
                                     created_at__gte=timezone.now() - timedelta(minutes=5)).count()
    return DeviceState(state, device.phone_jid or device.session_jid, since if connected else None,
                       device.connection_state == ConnectionState.RECONNECTING, device.last_error_code, reason,
                       errors, store_stats(device))
