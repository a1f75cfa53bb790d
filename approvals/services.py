"""Approval use cases every surface calls (MCP ``request_approval``/``check_approvals``, REST
``/devices/{id}/approvals``, the admin): request one over WhatsApp, decide it, list it, expire it."""

from __future__ import annotations

import logging
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from approvals.models import Approval, ApprovalStatus, DecisionSource, new_approval_id
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Device, Message
from whatsapp.services.messages import Outgoing, resolve_recipient, send_message

logger = logging.getLogger("approvals")

MAX_ACTION_CHARS = 500
MAX_DETAILS_CHARS = 2000
STATUSES = tuple(ApprovalStatus.values)


def _invalid(field: str, message: str) -> WhatsAppError:
    return WhatsAppError(ErrorCode.VALIDATION_ERROR, f"{field}: {message}", details={"field": field})


def request_text(approval: Approval) -> str:
    """The WhatsApp message that asks: heading, action, details, how to answer, id and expiry."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    expires = approval.expires_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
    lines = ["*Approval request*", "", f"Action: {approval.action}"]
    if approval.details:
        lines.append(f"Details: {approval.details}")
    lines += ["", "Reply APPROVE (or YES) to confirm, or DENY (or NO) to reject.",
              f"Request ID: {approval.pk}", f"Expires: {expires}"]
    return "\n".join(lines)


def request_approval(device: Device, to: str, action: str, details: str = "", timeout: object = 300, *,
                     wait_s: float | None = None) -> Approval:
    """Ask ``to`` over WhatsApp and record the pending approval.

    The approval is written in the very transaction that accepts the message into the outbox, so it
    exists only if the message does; should WhatsApp refuse the send (now, or later in the runner),
    the approval is deleted (here, or by the runner through ``Approval.discard_unsent``): a failed
    send never leaves a pending request that nobody received."""
    timeout_s = Approval.validate_timeout(timeout)
    action = (action or "").strip() if isinstance(action, str) else ""
    if not action or len(action) > MAX_ACTION_CHARS:
        raise _invalid("action", f"must be 1-{MAX_ACTION_CHARS} characters")
    details = details.strip() if isinstance(details, str) else ""
    if len(details) > MAX_DETAILS_CHARS:
        raise _invalid("details", f"must be at most {MAX_DETAILS_CHARS} characters")
    try:
        recipient = resolve_recipient(to)
    except WhatsAppError as error:
        raise WhatsAppError(ErrorCode.APPROVAL_RECIPIENT_NOT_FOUND, f"No recipient {to!r}: {error.message}",
                            details={"field": "to", "to": to}) from None
    now = timezone.now()
    approval = Approval(id=new_approval_id(), device=device, recipient_jid=recipient, action=action,
                        details=details, timeout_seconds=timeout_s, created_at=now,
                        expires_at=now + timedelta(seconds=timeout_s))

    def record(message: Message) -> None:
        approval.request_wa_id = message.wa_id
        approval.save(force_insert=True)

    try:
        send_message(device, Outgoing(to=recipient, text=request_text(approval)), wait_s=wait_s, on_accept=record)
    except WhatsAppError:
        Approval.objects.filter(pk=approval.pk, status=ApprovalStatus.PENDING).delete()
        raise
    return approval


def get_approval(device: Device, approval_id: str) -> Approval:
    """One of the device's approvals, expired first when overdue; ``NOT_FOUND`` otherwise."""
    key = str(approval_id)
    fits = len(key) <= Approval._meta.get_field("id").max_length  # a longer id is no approval, not a prefix
    approval = Approval.objects.filter(device=device, pk=key).first() if fits else None
    if approval is None:
        raise WhatsAppError(ErrorCode.NOT_FOUND, "No such approval for this device.",
                            details={"request_id": str(approval_id)[:200]})
    if approval.status == ApprovalStatus.PENDING and approval.expires_at <= timezone.now() and approval.expire():
        approval.refresh_from_db()
    return approval


def list_approvals(device: Device, *, status: str | None = None) -> QuerySet[Approval]:
    """The device's approvals, newest first (overdue ones expired first)."""
    expire_due(device=device)
    rows = Approval.objects.filter(device=device)
    if status:
        if status not in STATUSES:
            raise _invalid("status", f"must be one of {', '.join(STATUSES)}")
        rows = rows.filter(status=status)
    return rows.order_by("-created_at", "-pk")


def respond(approval: Approval, approved: bool, source: str, *, text: str = "", user: str = "") -> Approval:
    """An operator's or API client's decision (replies go through ``approvals.replies``).
    ``APPROVAL_ALREADY_RESPONDED`` when decided already, ``APPROVAL_TIMEOUT`` when it expired."""
    if source not in (DecisionSource.OPERATOR, DecisionSource.API):
        raise ValueError(f"respond() is for operators and API clients, not {source!r}")
    approval.respond(approved, source, text=text, user=user)
    return approval


def expire_due(*, device: Device | None = None) -> int:
    """Expire every pending approval past its deadline (beat runs this every few seconds; reads run
    it too, so nobody ever sees an overdue approval as pending). Returns how many expired."""
    overdue = Approval.objects.filter(status=ApprovalStatus.PENDING, expires_at__lte=timezone.now())
    if device is not None:
        overdue = overdue.filter(device=device)
    return sum(1 for approval in overdue.order_by("expires_at")[:1000] if approval.expire())
