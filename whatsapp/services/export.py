"""Chat export (reference/mcp-tools.md §2.11), one service for MCP, REST and the admin.

A chat and its twins (one person under a phone JID and a LID), up to the 10,000 most recent messages,
oldest first, as JSON or CSV. CSV cells are all double-quoted, booleans are ``0``/``1``, and a value
that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) gets a
``'`` prefix.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, Device, Message
from whatsapp.services.messages import resolve_recipient
from whatsapp.services.policies import ensure_allowed

MAX_MESSAGES = 10_000
FORMATS = ("json", "csv")
CSV_COLUMNS = ("id", "timestamp", "sender_jid", "sender_name", "body", "from_me", "has_media", "media_type")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ChatExport:
    jid: str
    chat_name: str
    is_group: bool
    format: str
    exported_at: datetime
    count: int
    content: str

    @property
    def mime_type(self) -> str:
        return "text/csv" if self.format == "csv" else "application/json"

    @property
    def file_name(self) -> str:
        stamp = self.exported_at.strftime("%Y%m%dT%H%M%SZ")
        return f"chat-{self.jid.split('@', 1)[0]}-{stamp}.{self.format}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _row(message: Message) -> dict[str, Any]:
    return {"id": message.wa_id, "timestamp": _iso(message.timestamp), "sender_jid": message.sender_jid,
            "sender_name": message.sender_name, "body": message.body, "from_me": message.from_me,
            "has_media": message.has_media, "media_type": message.type if message.has_media else ""}


def csv_cell(value: Any) -> str:
    """A CSV cell's text: booleans as 0/1, and formula-looking text defused with a leading ``'``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def export_chat(device: Device, jid: str, fmt: str = "json", *, limit: int = MAX_MESSAGES) -> ChatExport:
    """The export of the chat ``jid`` (a JID or phone number) and its twins. ``NOT_FOUND`` for a chat
    the store does not have, ``VALIDATION_ERROR`` for another format, the whitelist's refusal."""
    fmt = (fmt or "json").lower()
    if fmt not in FORMATS:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "format must be json or csv.", details={"field": "format"})
    target = resolve_recipient(jid, "jid")
    ensure_allowed(device, target)
    chat = Chat.objects.filter(device=device, jid=target).first()
    if chat is None:
        raise WhatsAppError(ErrorCode.NOT_FOUND, f"No chat with {target} in this device's store.",
                            details={"jid": target}, recovery="Use list_chats to find the chat's JID.")
    newest = Message.objects.filter(device=device, chat__in=chat.with_twins()).order_by("-timestamp", "-pk")[:limit]
    rows = [_row(message) for message in reversed(list(newest))]
    now = timezone.now()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows([csv_cell(row[column]) for column in CSV_COLUMNS] for row in rows)
        content = out.getvalue()
    else:
        content = json.dumps({
            "format": "json", "jid": target, "chatName": chat.name or "", "isGroup": chat.kind == "group",
            "exportedAt": _iso(now), "messageCount": len(rows),
            "messages": [{"id": r["id"], "timestamp": r["timestamp"],
                          "sender": {"jid": r["sender_jid"], "name": r["sender_name"]}, "body": r["body"],
                          "isFromMe": r["from_me"], "hasMedia": r["has_media"], "mediaType": r["media_type"]}
                         for r in rows],
        }, ensure_ascii=False, indent=2)
    return ChatExport(jid=target, chat_name=chat.name or "", is_group=chat.kind == "group", format=fmt,
                      exported_at=now, count=len(rows), content=content)
