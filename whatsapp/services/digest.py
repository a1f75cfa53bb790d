"""``catch_up``: the activity digest of reference/mcp-tools.md §3.2, as plain data (the MCP layer
words it). Nothing is marked read.

The window ends now and starts 1, 4 or 24 hours earlier, 7 days earlier for ``this_week`` (rolling,
not the calendar week), or at local midnight of the configured zone (``TIME_ZONE``) for ``today`` —
computed by zone arithmetic, so a DST change earlier in the day shifts nothing. Times in the digest
are aware datetimes in that zone.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone

from approvals.models import Approval, ApprovalStatus
from approvals.services import expire_due
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Device, Message
from whatsapp.services.directory import UNREAD, ChatEntry, Directory, clip, unified_chats
from whatsapp.services.policies import Whitelist, whitelist_for

SINCE_CHOICES = ("1h", "4h", "today", "24h", "this_week")
DEFAULT_SINCE = "today"
_SPANS = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(hours=24),
          "this_week": timedelta(days=7)}
MAX_ACTIVE_CHATS = 20
MAX_HIGHLIGHTS = 5
MAX_QUESTIONS = 10
HIGHLIGHT_CHARS = 100
QUESTION_CHARS = 120


@dataclass(frozen=True)
class ActiveChat:
    jid: str
    kind: str
    name: str
    unread: int  # all unread incoming messages of the chat (and its twins)
    window_messages: int  # messages in the window
    last_message_at: datetime | None
    preview: str


@dataclass(frozen=True)
class UnreadMessage:
    """A highlight or a question awaiting a reply."""

    message_id: str
    chat_jid: str  # the unified entry's JID
    chat_name: str
    sender_jid: str
    sender_name: str  # display name, else the push name, else +number
    timestamp: datetime
    body: str  # clipped (100 characters for highlights, 120 for questions); may be empty for media
    kind: str  # message type: "text", "image", …
    has_media: bool


@dataclass(frozen=True)
class PendingApproval:
    id: str
    action: str
    recipient_jid: str
    recipient_name: str
    created_at: datetime
    expires_at: datetime
    seconds_left: int


@dataclass(frozen=True)
class Digest:
    since: str
    zone: str
    start: datetime
    end: datetime
    generated_at: datetime
    active_chats: list[ActiveChat]  # newest first, at most 20
    unread_total: int  # the true total in the window, never capped
    unread_chats: int  # distinct (unified) chats holding them
    highlights: list[UnreadMessage]  # the 5 newest unread
    questions: list[UnreadMessage]  # the 10 newest unread containing "?"
    approvals: list[PendingApproval]  # every pending approval to an allowed recipient, newest first


def zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE or "UTC")


def window_start(since: str, now: datetime) -> datetime:
    """The start of the ``since`` window ending ``now``, in the configured zone."""
    local_zone = zone()
    if since == "today":
        local_now = now.astimezone(local_zone)
        # Midnight by the wall clock of today's date. Where midnight does not exist (a DST jump at
        # 00:00) the round trip through UTC lands on the first instant of the day.
        midnight = datetime.combine(local_now.date(), time(0), tzinfo=local_zone)
        return midnight.astimezone(UTC).astimezone(local_zone)
    if since not in _SPANS:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR,
                            f"since must be one of {', '.join(SINCE_CHOICES)}, not {since!r}.",
                            details={"field": "since", "choices": list(SINCE_CHOICES)})
    return (now - _SPANS[since]).astimezone(local_zone)


def catch_up(device: Device, since: str = DEFAULT_SINCE, *, now: datetime | None = None,
             allowed: Whitelist | None = None) -> Digest:
    """The digest of the ``since`` window. ``allowed`` defaults to the device's whitelist."""
    since = since if isinstance(since, str) else ""
    local_zone = zone()
    now = (now or timezone.now()).astimezone(local_zone)
    start = window_start(since, now)
    whitelist = whitelist_for(device) if allowed is None else allowed
    directory = Directory(device)
    entries = unified_chats(device, allowed=whitelist, now=now, directory=directory)
    by_chat = {chat_id: entry for entry in entries for chat_id in entry.chat_ids}
    unread = _unread_in_window(device, whitelist, start, now)
    per_chat = dict(unread.order_by().values("chat_id").annotate(n=Count("pk")).values_list("chat_id", "n"))
    newest = unread.select_related("chat").order_by("-timestamp", "-pk")
    return Digest(
        since=since, zone=str(local_zone.key), start=start, end=now, generated_at=now,
        active_chats=_active_chats(device, entries, start, now),
        unread_total=sum(per_chat.values()),
        unread_chats=len({by_chat[c].jid if c in by_chat else c for c in per_chat}),
        highlights=[_unread(m, by_chat, directory, HIGHLIGHT_CHARS, local_zone) for m in newest[:MAX_HIGHLIGHTS]],
        questions=_questions(newest, by_chat, directory, local_zone),
        approvals=_pending_approvals(device, whitelist, directory, now),
    )


def _unread_in_window(device: Device, whitelist: Whitelist, start: datetime, now: datetime) -> QuerySet[Message]:
    messages = Message.objects.filter(device=device, timestamp__gte=start, timestamp__lte=now).filter(UNREAD)
    if not whitelist.allows_everything:
        messages = messages.filter(whitelist.chat_filter(device, "chat__jid"))
    return messages


def _active_chats(device: Device, entries: list[ChatEntry], start: datetime, now: datetime) -> list[ActiveChat]:
    active = [e for e in entries if e.last_message_at is not None and e.last_message_at >= start]
    active = active[:MAX_ACTIVE_CHATS]  # entries are newest first
    chat_ids = [chat_id for entry in active for chat_id in entry.chat_ids]
    counts = dict(Message.objects.filter(device=device, chat_id__in=chat_ids, timestamp__gte=start,
                                         timestamp__lte=now)
                  .order_by().values("chat_id").annotate(n=Count("pk")).values_list("chat_id", "n")) \
        if chat_ids else {}
    return [ActiveChat(jid=e.jid, kind=e.kind, name=e.name, unread=e.unread,
                       window_messages=sum(counts.get(chat_id, 0) for chat_id in e.chat_ids),
                       last_message_at=e.last_message_at.astimezone(start.tzinfo), preview=e.preview)
            for e in active]


def _unread(message: Message, by_chat: dict[int, ChatEntry], directory: Directory, chars: int,
            local_zone: zoneinfo.ZoneInfo) -> UnreadMessage:
    entry = by_chat.get(message.chat_id)
    chat_jid = entry.jid if entry else directory.key_of(message.chat.jid)
    sender = message.sender_jid or message.sender_phone_jid or message.sender_lid or message.chat.jid
    return UnreadMessage(
        message_id=message.wa_id, chat_jid=chat_jid, chat_name=entry.name if entry else directory.name(chat_jid),
        sender_jid=sender, sender_name=directory.sender_name(sender, message.sender_name),
        timestamp=message.timestamp.astimezone(local_zone), body=clip(message.body, chars), kind=message.type,
        has_media=message.has_media,
    )


def _questions(newest: QuerySet[Message], by_chat: dict[int, ChatEntry], directory: Directory,
               local_zone: zoneinfo.ZoneInfo) -> list[UnreadMessage]:
    """The newest unread messages asking something. Filtered here rather than in SQL so that it
    keeps working on bodies the database cannot read (field encryption)."""
    found: list[UnreadMessage] = []
    for message in newest.iterator(chunk_size=200):
        if "?" in (message.body or ""):
            found.append(_unread(message, by_chat, directory, QUESTION_CHARS, local_zone))
            if len(found) == MAX_QUESTIONS:
                break
    return found


def _pending_approvals(device: Device, whitelist: Whitelist, directory: Directory,
                       now: datetime) -> list[PendingApproval]:
    """Every pending approval after expiry whose recipient passes the whitelist — whether or not
    the recipient has a chat row (the original dropped those)."""
    expire_due(device=device)
    pending = Approval.objects.filter(device=device, status=ApprovalStatus.PENDING).order_by("-created_at")
    verdicts: dict[str, bool] = {}
    result = []
    for approval in pending:
        recipient = approval.recipient_jid
        if recipient not in verdicts:
            verdicts[recipient] = whitelist.allows(device, recipient)
        if not verdicts[recipient]:
            continue
        result.append(PendingApproval(
            id=approval.pk, action=approval.action, recipient_jid=recipient,
            recipient_name=directory.name(recipient), created_at=approval.created_at.astimezone(now.tzinfo),
            expires_at=approval.expires_at.astimezone(now.tzinfo),
            seconds_left=max(0, int((approval.expires_at - now).total_seconds()))))
    return result
