"""Reading a device's message history: newest first, filtered, in pages with an opaque cursor.

The cursor names the last message of a page by ``(timestamp, pk)`` — the store's own order — so the
next page starts strictly after it: messages stored meanwhile (newer ones at the top, history sync
filling in older ones) never shift a page, repeat a message or skip one already below the cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, Device, Direction, Message
from whatsapp.search.service import matching
from whatsapp.services.messages import resolve_recipient
from whatsapp.services.policies import ensure_allowed, whitelist_for

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_QUERY_CHARS = 200  # SPEC §8: longer queries are SEARCH_QUERY_TOO_LONG
_CURSOR_VERSION = 1


@dataclass(frozen=True)
class HistoryPage:
    messages: list[Message]
    next_cursor: str | None


def encode_cursor(timestamp: datetime, pk: int | str) -> str:
    """An opaque cursor for the position ``(timestamp, pk)`` (a page's last row)."""
    raw = json.dumps([_CURSOR_VERSION, timestamp.isoformat(), pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, key: type[int] | type[str] = int, max_key_chars: int = 64) -> tuple[datetime, Any]:
    """``(timestamp, pk)`` of a cursor from :func:`encode_cursor` whose ``pk`` is of type ``key`` (a
    string key: at most ``max_key_chars``, no NUL); anything else is a validation error."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, stamp, pk = json.loads(raw)
        when = parse_datetime(stamp) if isinstance(stamp, str) else None
        if version != _CURSOR_VERSION or when is None or when.tzinfo is None or type(pk) is not key:
            raise ValueError(cursor)
        if key is str and (not pk or len(pk) > max_key_chars or "\x00" in pk):
            raise ValueError(cursor)
        when = when.astimezone(UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, OverflowError):
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "cursor is not a next_cursor this API returned.",
                            details={"field": "cursor"}) from None
    return when, pk


def _utc(when: datetime, field: str) -> datetime:
    """``when`` in UTC; a time whose UTC form leaves the calendar (year 1 or 9999 with an offset) is
    a validation error, not a database failure."""
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"{field} is out of range.", details={"field": field}) from None


def _chats_of(device: Device, chat_jid: str) -> QuerySet[Chat]:
    """The chat with ``chat_jid`` and its twins (one person under a phone JID and a LID)."""
    jid = resolve_recipient(chat_jid, "chat_jid")
    ensure_allowed(device, jid)
    chat = Chat.objects.filter(device=device, jid=jid).first()
    return chat.with_twins() if chat is not None else Chat.objects.none()


def list_messages(device: Device, *, chat_jid: str | None = None, direction: str | None = None,
                  before: datetime | None = None, after: datetime | None = None, q: str | None = None,
                  limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> HistoryPage:
    """One page of the device's messages, newest first.

    ``direction`` is ``in``/``out`` (``inbound``/``outbound`` accepted); ``before``/``after`` are
    exclusive bounds on WhatsApp's timestamp; ``q`` is a full-text query in the store's search syntax
    (keywords, ``"phrases"``, ``prefix*``, ``AND``/``OR``/``NOT``; see :mod:`whatsapp.search`).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"limit must be 1..{MAX_LIMIT}.", details={"field": "limit"})
    messages = Message.objects.filter(device=device)
    whitelist = whitelist_for(device)
    if not whitelist.allows_everything:  # dropped before paging, so pages stay full
        messages = messages.filter(whitelist.chat_filter(device, "chat__jid"))
    if chat_jid:
        messages = messages.filter(chat__in=_chats_of(device, chat_jid))
    if direction:
        wanted = {"in": Direction.INBOUND, "inbound": Direction.INBOUND,
                  "out": Direction.OUTBOUND, "outbound": Direction.OUTBOUND}.get(direction)
        if wanted is None:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "direction is in or out.", details={"field": "direction"})
        messages = messages.filter(direction=wanted)
    if before is not None:
        messages = messages.filter(timestamp__lt=_utc(before, "before"))
    if after is not None:
        messages = messages.filter(timestamp__gt=_utc(after, "after"))
    if q:
        if len(q) > MAX_QUERY_CHARS:
            raise WhatsAppError(ErrorCode.SEARCH_QUERY_TOO_LONG, details={"field": "q", "max": MAX_QUERY_CHARS,
                                                                         "length": len(q)})
        messages = matching(device, messages, q)
    if cursor:
        stamp, pk = decode_cursor(cursor)
        messages = messages.filter(Q(timestamp__lt=stamp) | Q(timestamp=stamp, pk__lt=pk))
    page = list(messages.select_related("chat", "media_file").order_by("-timestamp", "-pk")[:limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return HistoryPage(messages=page, next_cursor=encode_cursor(page[-1].timestamp, page[-1].pk) if more else None)
