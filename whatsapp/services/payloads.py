"""Event payloads: the shape of a message (or receipt…) in the event log, webhooks and MCP."""

from __future__ import annotations

from typing import Any

from whatsapp.models import Message

# Types whose body is the message's own text; for every other type it captions the content (a poll's
# body is its question, which is what the poll says — not a caption).
TEXT_TYPES = frozenset({"text", "poll"})


def message_payload(message: Message) -> dict[str, Any]:
    """wa-server's ``message`` payload, with both sender addresses when known."""
    payload: dict[str, Any] = {
        "message_id": message.wa_id,
        "chat_jid": message.chat.jid,
        "is_group": message.chat.kind == "group",
        "direction": message.direction,
        "is_from_me": message.from_me,
        "sender_jid": message.sender_jid or None,
        "sender_phone_jid": message.sender_phone_jid or None,
        "sender_lid": message.sender_lid or None,
        "push_name": message.sender_name or None,
        "type": message.type,
        "text": message.body if message.type in TEXT_TYPES else None,
        "caption": message.body if message.type not in TEXT_TYPES and message.body else None,
        "quoted_message_id": message.quoted_wa_id or None,
        "status": message.status or None,
        "timestamp": message.timestamp,
        "from_history": message.from_history,
    }
    if message.has_media:
        payload.update({
            "mime_type": message.media_mime_type or None,
            "file_name": message.media_file_name or None,
            "file_size": message.media_size,
            "sha256": message.media_sha256 or None,
            "ptt": message.media_ptt,
            "media_path": message.media_file.path if hasattr(message, "media_file") else None,
        })
    if message.content:
        payload.update(message.content)
    if message.error_code:
        payload["error_code"] = message.error_code
    return payload
