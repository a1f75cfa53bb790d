"""``wait_for_message``: block until a matching message arrives (reference §2.33, §3.3).

Once its filters are resolved, the wait is registered with the device's event feed at the feed's
current position, and only events the feed handles after that point count: earlier messages are
list_messages' business. Every wait a message matches resolves (it is not consumed), and a
disconnect ends the wait at once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone

from whatsapp import jids
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp import formatting as fmt
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.feed import Cancelled, FeedItem, feed_for
from whatsapp.mcp.tooling import ToolResult, integer, lines, text, tool

HISTORY_FRESH_S = 120


def _filters(call: ToolCall) -> tuple[set[str] | None, tuple[str, str] | None, str]:
    """The chat's JIDs, the sender filter and a description of the filters (runs in a worker thread)."""
    from whatsapp.services.directory import Directory
    from whatsapp.services.recipients import person_or_jid, resolve

    try:
        chats: set[str] | None = None
        described = []
        if call["chat"]:
            resolved = resolve(call.device, call["chat"], field="chat")
            call.ensure_allowed(resolved.jid)
            chats = {resolved.jid, *resolved.twins}
            described.append(f"chat {resolved.name} ({resolved.jid})")
        sender: tuple[str, str] | None = None
        if call["from_phone"]:
            jid = person_or_jid(call["from_phone"], "from_phone")
            call.ensure_allowed(jid)
            directory = Directory(call.device)
            phone = directory.phone_of(jid) or ""
            sender = (jid, phone)
            described.append(f"sender {call['from_phone']}")
        return chats, sender, ", ".join(described) or "any allowed chat"
    finally:
        close_old_connections()


def _timestamp(payload: dict[str, Any]) -> datetime | None:
    value = payload.get("timestamp")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _sender_addresses(payload: dict[str, Any]) -> set[str]:
    return {jids.normalize(j) for j in (payload.get("sender_jid"), payload.get("sender_phone_jid"),
                                        payload.get("sender_lid")) if j}


def matcher(after: int, chats: set[str] | None, sender: tuple[str, str] | None) -> Any:
    """The predicate a message must pass (reference §3.3 eligibility and filters)."""

    def accepts(item: FeedItem) -> bool:
        payload = item.payload
        if item.sequence <= after or payload.get("direction") == "out" or not item.allowed:
            return False
        if payload.get("from_history"):
            stamp = _timestamp(payload)
            if stamp is None or timezone.now() - stamp > timedelta(seconds=HISTORY_FRESH_S):
                return False
        if chats is not None and payload.get("chat_jid") not in chats:
            return False
        if sender is not None:
            jid, phone = sender
            addresses = _sender_addresses(payload)
            if jid not in addresses and not (phone and jids.phone_jid(phone) in addresses):
                return False
        return True

    return accepts


@tool("wait_for_message", "Wait for the next incoming message (optionally from one chat or sender) and return "
      "it. Only messages arriving after the call count; use list_messages for earlier ones.",
      integer("timeout", "Seconds to wait (1-300).", minimum=1, maximum=300, default=60),
      text("chat", "Only this chat: a JID, phone number or name.", max_length=200),
      text("from_phone", "Only this sender: a phone number or JID.", max_length=50),
      live=True, read_only=True,
      response="Sender, chat JID, time, body (or none), media type, message ID.",
      errors=(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT,
              ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, ErrorCode.WAIT_TIMEOUT, ErrorCode.WAIT_CANCELLED),
      examples=("wait_for_message(timeout=120)", 'wait_for_message(chat="Alice", timeout=60)',
                'wait_for_message(from_phone="+14155550123")'),
      related=("list_messages", "request_approval", "check_approvals"),
      pitfalls=("Messages that arrived before the call are not returned.",
                "A LID and a phone JID of one person both match their chat."))
async def wait_for_message(call: ToolCall) -> ToolResult:
    feed = call.feed or await feed_for(call.device.pk)
    chats, sender, described = await sync_to_async(_filters, thread_sensitive=False)(call)
    # Registered with the feed's own position and no await in between: every event the feed handles
    # from here on is newer than the call, and none of them can slip past the wait.
    waiter = feed.add_waiter(matcher(feed.last, chats, sender))
    try:
        item = await asyncio.wait_for(asyncio.shield(waiter.future), call["timeout"])
    except TimeoutError:
        raise WhatsAppError(ErrorCode.WAIT_TIMEOUT, f"No message from {described} within {call['timeout']} s.",
                            details={"timeout": call["timeout"], "filters": described}) from None
    except Cancelled as cancelled:
        raise WhatsAppError(ErrorCode.WAIT_CANCELLED, f"The session ended while waiting ({cancelled.reason}).",
                            details={"reason": cancelled.reason}) from None
    finally:
        feed.remove_waiter(waiter)
    return _result(item)


def _result(item: FeedItem) -> ToolResult:
    payload = item.payload
    body = payload.get("text") or payload.get("caption") or ""
    media = payload.get("type") if payload.get("type") not in ("text", "poll", None) else None
    stamp = _timestamp(payload)
    sender = item.sender_name or payload.get("sender_jid") or "unknown"
    text_ = lines(("From", f"{sender} ({payload.get('sender_jid')})" if payload.get("sender_jid") else sender),
                  ("Chat JID", payload.get("chat_jid")), ("Time", fmt.when(stamp)),
                  ("Message ID", payload.get("message_id")), ("Media", media or "none"),
                  ("Body", body or "(no text)"))
    data = {"message_id": payload.get("message_id"), "chat_jid": payload.get("chat_jid"),
            "sender_jid": payload.get("sender_jid"), "sender_name": item.sender_name or None,
            "timestamp": fmt.iso(stamp), "body": body or None, "has_media": media is not None, "media_type": media,
            "is_from_me": bool(payload.get("is_from_me"))}
    return ToolResult(text_, data)
