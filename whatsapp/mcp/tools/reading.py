"""Reading the local store: list_messages (§2.5), search_messages (§2.6), mark_messages_read (§2.10)
and export_chat_data (§2.11) of reference/mcp-tools.md.

All four work offline. A chat is read together with its twins (one person under a phone JID and a
LID), people are shown by display name (a custom name wins), and the whitelist refuses a targeted
chat by name while listings drop what it does not allow before paging.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp import formatting as fmt
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import ToolResult, choice, flag, integer, lines, strings, text, tool
from whatsapp.models import Chat, ChatKind, Device, Message
from whatsapp.search import service as search
from whatsapp.services import actions
from whatsapp.services.actions import MarkReadResult, ReceiptOutcome
from whatsapp.services.directory import Directory
from whatsapp.services.export import export_chat
from whatsapp.services.recipients import Resolved, person_or_jid, resolve

LIST_BODY_CHARS = 200
SEARCH_BODY_CHARS = 150
MAX_SEARCH_QUERY_CHARS = 200  # longer is SEARCH_QUERY_TOO_LONG (seed 000's documented limit)
EXPORT_PREVIEW_ROWS = 5
DATE_HINT = "Use an ISO-8601 date or date-time, e.g. 2025-01-31, 2025-01-31T14:30 or 2025-01-31T14:30:00+01:00."


# --- shared: dates, scopes, how a message is shown -------------------------------------------------


def parse_moment(value: str | None, field: str) -> datetime | None:
    """An ISO-8601 date or date-time as an aware datetime (reference §1.13): without an offset it is
    read in the configured zone, and a date alone is the start of that day. ``VALIDATION_ERROR``
    naming ``field`` when it does not parse."""
    if value is None:
        return None
    raw = value.strip()
    problem = f"{field} is not an ISO-8601 date or date-time: {value!r}. {DATE_HINT}"
    if not raw:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, problem, details={"field": field, "value": value})
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, problem, details={"field": field, "value": value}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=fmt.zone())
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"{field} is out of range: {value!r}.",
                            details={"field": field, "value": value}) from None


def scope_chat_ids(device: Device, addresses: Iterable[str]) -> list[int]:
    """The stored chats of ``addresses`` (a person's twins, or one group) and of every twin the store
    links to them."""
    addresses = list(addresses)
    rows = list(Chat.objects.filter(device=device, jid__in=addresses).values_list("pk", "contact_id", "kind"))
    contacts = {contact for _, contact, kind in rows if contact and kind != ChatKind.GROUP}
    condition = Q(jid__in=addresses) | Q(contact_id__in=contacts) if contacts else Q(jid__in=addresses)
    return list(Chat.objects.filter(device=device).filter(condition).values_list("pk", flat=True))


def _sender_address(message: Message) -> str:
    if message.from_me:
        return ""
    address = message.sender_jid or message.sender_phone_jid or message.sender_lid
    if not address and message.chat.kind == ChatKind.DIRECT:
        address = message.chat.jid
    return address


def directory_for(device: Device, messages: Iterable[Message], *extra: str) -> Directory:
    """One directory naming every sender and chat of ``messages`` (a few queries for the lot)."""
    wanted = set(extra)
    for message in messages:
        wanted.add(message.chat.jid)
        if address := _sender_address(message):
            wanted.add(address)
    return Directory(device, only=wanted)


def sender_of(directory: Directory, message: Message) -> str:
    """``You`` for own messages, else the display name, the name the message carried, the number,
    else ``unknown``."""
    if message.from_me:
        return "You"
    address = _sender_address(message)
    if address:
        return directory.sender_name(address, message.sender_name)
    return message.sender_name.strip() or "unknown"


def read_state(message: Message) -> str:
    if message.from_me:
        return f"own message ({message.status or 'sent'})"
    return "unread" if message.is_unread else "read"


def message_data(directory: Directory, message: Message, chars: int) -> dict[str, Any]:
    return {
        "id": message.wa_id, "chat_jid": message.chat.jid, "timestamp": fmt.iso(message.timestamp),
        "time": fmt.when(message.timestamp), "from_me": message.from_me,
        "sender_jid": _sender_address(message) or None, "sender_name": sender_of(directory, message),
        "unread": message.is_unread, "status": message.status or None, "type": message.type,
        "has_media": message.has_media, "media_file_name": message.media_file_name or None,
        "body": fmt.body_or_marker(message, chars), "truncated": len(message.body or "") > chars,
    }


def _message_lines(directory: Directory, message: Message, chars: int, *, prefix: str = "") -> list[str]:
    head = (f"{prefix}Time: {fmt.when(message.timestamp)} | From: {sender_of(directory, message)} | "
            f"Message ID: {message.wa_id} | Read: {read_state(message)}")
    return [head, f"{' ' * len(prefix)}Text: {fmt.body_or_marker(message, chars)}"]


def _chat_label(directory: Directory, jid: str) -> str:
    chat = directory.chat(jid)
    if chat is not None and chat.kind == ChatKind.GROUP:
        return directory.name(jid, chat_name=chat.name)
    return directory.name(jid)


def _target(call: ToolCall, field: str) -> Resolved:
    """The chat ``field`` names (§1.6), refused unless the whitelist allows it."""
    resolved = resolve(call.device, call[field], field=field)
    call.audit["jid"] = resolved.jid
    call.ensure_allowed(resolved.jid)
    return resolved


# --- list_messages ---------------------------------------------------------------------------------


def _neighbours(scope: QuerySet[Message], message: Message, count: int) -> tuple[list[Message], list[Message]]:
    if count <= 0:
        return [], []
    stamp, pk = message.timestamp, message.pk
    before = scope.filter(Q(timestamp__lt=stamp) | Q(timestamp=stamp, pk__lt=pk)).order_by("-timestamp", "-pk")
    after = scope.filter(Q(timestamp__gt=stamp) | Q(timestamp=stamp, pk__gt=pk)).order_by("timestamp", "pk")
    return list(reversed(before[:count])), list(after[:count])


@tool("list_messages", "List the messages of one chat (with its phone/LID twins) from the local store, a page at "
      "a time, shown oldest to newest; optionally between dates and with surrounding context.",
      text("chat", "The chat: a JID, a phone number or a chat/contact name.", required=True, max_length=200),
      integer("limit", "Messages per page (1-200).", minimum=1, maximum=200, default=50),
      integer("page", "Page number from 0 (the newest messages); page N skips N x limit messages.", minimum=0,
              default=0),
      text("before", "Only messages strictly before this ISO-8601 date or date-time (no offset: the configured "
           "zone; a date alone: the start of that day).", max_length=64),
      text("after", "Only messages strictly after this ISO-8601 date or date-time (no offset: the configured "
           "zone; a date alone: the start of that day).", max_length=64),
      flag("include_context", "Show each message inside a block with its neighbours from the same chat."),
      integer("context_messages", "Neighbours before and after each message with include_context (0-10).",
              minimum=0, maximum=10, default=2),
      read_only=True, idempotent=True,
      response="Header lines Chat, JID, Messages shown, Page; then per message a line \"Time: … | From: … | "
               "Message ID: … | Read: …\" and a \"Text: …\" line (first 200 characters, or a [type: file] media "
               "marker); a \"More:\" hint naming the next page when more messages exist. With include_context, "
               "blocks separated by \"-----\" in which the message itself is marked \">>\".",
      errors=(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT,
              ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED),
      examples=('list_messages(chat="Alice")',
                'list_messages(chat="+15551234567", limit=20, page=1)',
                'list_messages(chat="120363041234567890@g.us", after="2025-01-31", before="2025-02-01T12:00")',
                'list_messages(chat="Alice", include_context=true, context_messages=3)'),
      related=("list_chats", "search_messages", "mark_messages_read", "export_chat_data"),
      pitfalls=("Page 0 holds the newest messages; the page itself reads oldest to newest.",
                "before and after are strict bounds; a date alone means midnight at the start of that day in "
                "the configured zone.",
                "Reading does not mark messages read; use mark_messages_read."))
def list_messages(call: ToolCall) -> ToolResult:
    device = call.device
    before, after = parse_moment(call["before"], "before"), parse_moment(call["after"], "after")
    chat = _target(call, "chat")
    limit, page = call["limit"], call["page"]
    scope = Message.objects.filter(device=device, chat_id__in=scope_chat_ids(device, chat.twins))
    bounded = scope
    if before is not None:
        bounded = bounded.filter(timestamp__lt=before)
    if after is not None:
        bounded = bounded.filter(timestamp__gt=after)
    start = page * limit
    rows = list(bounded.select_related("chat").order_by("-timestamp", "-pk")[start:start + limit + 1])
    has_more = len(rows) > limit
    shown = list(reversed(rows[:limit]))
    context: dict[int, tuple[list[Message], list[Message]]] = {}
    if call["include_context"]:
        for message in shown:
            context[message.pk] = _neighbours(scope.select_related("chat"), message, call["context_messages"])
    everything = [*shown, *(m for pair in context.values() for side in pair for m in side)]
    directory = directory_for(device, everything, *chat.twins)
    name = chat.name if chat.name not in chat.twins else _chat_label(directory, chat.jid)
    bounds = ", ".join(part for part in (f"after {fmt.when(after)}" if after else "",
                                         f"before {fmt.when(before)}" if before else "") if part)
    header = lines(("Chat", name), ("JID", chat.jid),
                   ("Twins read together", ", ".join(chat.twins) if len(chat.twins) > 1 else None),
                   ("Bounds", bounds or None), ("Messages shown", len(shown)),
                   ("Page", f"{page} (limit {limit}, oldest to newest)"))
    body: list[str] = []
    for message in shown:
        if message.pk in context:
            earlier, later = context[message.pk]
            block = [line for m in earlier for line in _message_lines(directory, m, LIST_BODY_CHARS, prefix="   ")]
            block += _message_lines(directory, message, LIST_BODY_CHARS, prefix=">> ")
            block += [line for m in later for line in _message_lines(directory, m, LIST_BODY_CHARS, prefix="   ")]
            body.append("\n".join(block))
        else:
            body.append("\n".join(_message_lines(directory, message, LIST_BODY_CHARS)))
    separator = "\n-----\n" if context else "\n\n"
    parts = [header]
    if body:
        parts.append(separator.join(body))
    else:
        parts.append("No messages" + (" on this page" if page else " in this chat") + (" within the bounds" if bounds
                                                                                        else "") + ".")
    if has_more:
        parts.append(f"More: more messages may exist; call list_messages with page {page + 1}.")
    data: dict[str, Any] = {
        "chat": {"jid": chat.jid, "name": name, "twins": list(chat.twins), "kind": chat.kind},
        "page": page, "limit": limit, "count": len(shown), "has_more": has_more,
        "next_page": page + 1 if has_more else None,
        "before": fmt.iso(before), "after": fmt.iso(after), "messages": [],
    }
    for message in shown:
        item = message_data(directory, message, LIST_BODY_CHARS)
        if message.pk in context:
            earlier, later = context[message.pk]
            item["context"] = {"before": [message_data(directory, m, LIST_BODY_CHARS) for m in earlier],
                               "after": [message_data(directory, m, LIST_BODY_CHARS) for m in later]}
        data["messages"].append(item)
    call.audit["count"] = len(shown)
    return ToolResult("\n\n".join(parts), data)


# --- search_messages -------------------------------------------------------------------------------


@tool("search_messages", "Full-text search over message texts and captions in the local store, newest first; "
      "optionally within one chat (and its twins).",
      text("query", "Words to find, 1-200 characters. All words are required; AND, OR, NOT (upper case) are "
           "operators; \"a phrase\" in quotes; a trailing * matches a prefix (deadl*).", required=True, min_length=1),
      text("chat", "Search only this chat: a JID, a phone number or a chat/contact name.", max_length=200),
      integer("limit", "Hits per page (1-100).", minimum=1, maximum=100, default=20),
      integer("page", "Page number from 0 (the newest hits).", minimum=0, default=0),
      flag("include_context", "Show one message before and after each hit."),
      read_only=True, idempotent=True,
      response="Header lines Query, Scope, Hits (total), Page; per hit a line \"Chat: … | Time: … | From: … | "
               "Message ID: … | Read: …\" and a \"Text: …\" line (first 150 characters, or a media marker); a "
               "\"More:\" hint naming the next page when more hits exist.",
      errors=(ErrorCode.SEARCH_QUERY_TOO_LONG, ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND,
              ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED,
              ErrorCode.SEARCH_FTS_UNAVAILABLE),
      examples=('search_messages(query="invoice")',
                'search_messages(query="\\"see you tomorrow\\"", chat="Alice")',
                'search_messages(query="deadl* OR due", limit=50, page=1)'),
      related=("list_messages", "list_chats", "search_contacts"),
      pitfalls=("A chat that does not resolve is an error, never a search of every chat.",
                "Lower-case and, or, not are ordinary words; only upper-case AND, OR, NOT are operators.",
                "With a whitelist, only allowed chats are searched."))
def search_messages(call: ToolCall) -> ToolResult:
    device = call.device
    query = call["query"]
    if len(query) > MAX_SEARCH_QUERY_CHARS:
        raise WhatsAppError(ErrorCode.SEARCH_QUERY_TOO_LONG,
                            f"query has {len(query)} characters; at most {MAX_SEARCH_QUERY_CHARS} are searched.",
                            details={"field": "query", "max": MAX_SEARCH_QUERY_CHARS, "length": len(query)})
    if not query.strip():
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "query must contain something to search for.",
                            details={"field": "query"})
    chat = _target(call, "chat") if call["chat"] is not None else None
    limit, page = call["limit"], call["page"]
    if chat is not None:  # the chat and its twins (the chat was checked against the whitelist)
        chat_jids = list(Chat.objects.filter(pk__in=scope_chat_ids(device, chat.twins)).values_list("jid", flat=True))
        result = search.search_messages(device, query, chat_jids=chat_jids or list(chat.twins), limit=limit,
                                         offset=page * limit)
    else:  # every chat the whitelist allows, applied before paging
        result = search.search_messages(device, query, allowed_chat_ids=search.allowed_chats(device),
                                         limit=limit, offset=page * limit)
    total = result.total if result.total is not None else len(result.hits)
    messages = list(result.hits)
    context: dict[int, tuple[list[Message], list[Message]]] = {}
    if call["include_context"]:
        for message in messages:
            earlier, later = search.context_of(message, before=1, after=1)
            context[message.pk] = (list(earlier), list(later))
    everything = [*messages, *(m for pair in context.values() for side in pair for m in side)]
    directory = directory_for(device, everything, *(chat.twins if chat else ()))
    chat_name = None
    if chat is not None:
        chat_name = chat.name if chat.name not in chat.twins else _chat_label(directory, chat.jid)
    scope = f"{chat_name} ({chat.jid})" if chat is not None else "all chats"
    header = lines(("Query", query), ("Scope", scope), ("Hits", total),
                   ("Page", f"{page} (limit {limit}, newest first)"))
    blocks = []
    for message in messages:
        hit = [_hit_line(directory, message, ">> " if message.pk in context else "")]
        hit.append(("   " if message.pk in context else "") + f"Text: {fmt.body_or_marker(message, SEARCH_BODY_CHARS)}")
        if message.pk in context:
            earlier, later = context[message.pk]
            hit = [*(line for m in earlier for line in _message_lines(directory, m, SEARCH_BODY_CHARS, prefix="   ")),
                   *hit,
                   *(line for m in later for line in _message_lines(directory, m, SEARCH_BODY_CHARS, prefix="   "))]
        blocks.append("\n".join(hit))
    parts = [header]
    if blocks:
        parts.append(("\n-----\n" if context else "\n\n").join(blocks))
    else:
        where = f" in {scope}" if chat is not None else ""
        parts.append(f"No messages match {query!r}{where}" + (" on this page." if page else "."))
    if result.has_more:
        parts.append(f"More: more hits exist; call search_messages with page {page + 1}.")
    hits = []
    for message in messages:
        item = message_data(directory, message, SEARCH_BODY_CHARS)
        item["chat_name"] = _chat_label(directory, message.chat.jid)
        if message.pk in context:
            earlier, later = context[message.pk]
            item["context"] = {"before": [message_data(directory, m, SEARCH_BODY_CHARS) for m in earlier],
                               "after": [message_data(directory, m, SEARCH_BODY_CHARS) for m in later]}
        hits.append(item)
    data = {"query": query, "chat": {"jid": chat.jid, "name": chat_name, "twins": list(chat.twins)} if chat else None,
            "total": total, "count": len(hits), "page": page, "limit": limit, "has_more": result.has_more,
            "next_page": page + 1 if result.has_more else None, "hits": hits}
    call.audit.update({"hits": total})
    return ToolResult("\n\n".join(parts), data)


def _hit_line(directory: Directory, message: Message, prefix: str) -> str:
    return (f"{prefix}Chat: {_chat_label(directory, message.chat.jid)} | Time: {fmt.when(message.timestamp)} | "
            f"From: {sender_of(directory, message)} | Message ID: {message.wa_id} | Read: {read_state(message)}")


# --- mark_messages_read ----------------------------------------------------------------------------

RECEIPT_TEXT = {
    ReceiptOutcome.SENT: "sent",
    ReceiptOutcome.PENDING: "queued (WhatsApp had not confirmed them within a few seconds; they are still sent)",
    ReceiptOutcome.FAILED: "failed",
    ReceiptOutcome.OFFLINE: "skipped: not connected (marked read locally only)",
    ReceiptOutcome.DISABLED: "skipped: SEND_READ_RECEIPTS is off (marked read locally only)",
    ReceiptOutcome.NOT_NEEDED: "none needed: no message was newly marked",
}
# When several chats were marked, the combined receipt outcome is the most telling one.
_RECEIPT_PRIORITY = (ReceiptOutcome.FAILED, ReceiptOutcome.PENDING, ReceiptOutcome.SENT, ReceiptOutcome.OFFLINE,
                     ReceiptOutcome.DISABLED, ReceiptOutcome.NOT_NEEDED)


def _clean_ids(values: list[str]) -> list[str]:
    cleaned = []
    for value in values:
        wa_id = value.strip()
        if not wa_id:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "message_ids holds an empty id.",
                                details={"field": "message_ids"})
        cleaned.append(wa_id)
    return list(dict.fromkeys(cleaned))


def _combined(results: list[MarkReadResult]) -> tuple[ReceiptOutcome, str]:
    outcomes = {result.receipts for result in results}
    outcome = next((o for o in _RECEIPT_PRIORITY if o in outcomes), ReceiptOutcome.NOT_NEEDED)
    error = next((result.error_code for result in results if result.error_code), "")
    return outcome, error


def _mark_by_ids(call: ToolCall, ids: list[str]) -> tuple[list[MarkReadResult], list[dict[str, str]]]:
    """IDs without ``chat``: each marked in its own chat; unknown IDs and IDs whose chat the
    whitelist refuses are skipped and reported (the original refused the whole call)."""
    device = call.device
    found = {m.wa_id: m for m in Message.objects.filter(device=device, wa_id__in=ids).select_related("chat")}
    ignored: list[dict[str, str]] = []
    groups: dict[tuple[str, int], tuple[str, list[str]]] = {}
    verdicts: dict[str, bool] = {}
    for wa_id in ids:
        message = found.get(wa_id)
        if message is None:
            ignored.append({"id": wa_id, "reason": "not found"})
            continue
        chat = message.chat
        if chat.jid not in verdicts:
            verdicts[chat.jid] = call.allowed(chat.jid)
        if not verdicts[chat.jid]:
            ignored.append({"id": wa_id, "reason": "chat not allowed", "chat_jid": chat.jid})
            continue
        key = ("contact", chat.contact_id) if chat.contact_id and chat.kind != ChatKind.GROUP else ("chat", chat.pk)
        groups.setdefault(key, (chat.jid, []))[1].append(wa_id)
    results = []
    for chat_jid, chat_ids in groups.values():
        try:
            results.append(actions.mark_read(device, chat_jid, chat_ids))
        except WhatsAppError as error:  # a chat the store holds but cannot address (e.g. a broadcast list)
            ignored += [{"id": wa_id, "reason": f"cannot be marked ({error.code.code})", "chat_jid": chat_jid}
                        for wa_id in chat_ids]
    return results, ignored


def _mark_chat(call: ToolCall, chat: Resolved, ids: list[str] | None) -> tuple[list[MarkReadResult],
                                                                                list[dict[str, str]]]:
    device = call.device
    stored = list(Chat.objects.filter(device=device, jid__in=chat.twins).values_list("jid", flat=True))
    if not stored:
        return [], [{"id": wa_id, "reason": "not in this chat"} for wa_id in ids or ()]
    anchor = chat.jid if chat.jid in stored else stored[0]
    result = actions.mark_read(device, anchor, ids)
    known = set(Message.objects.filter(device=device, wa_id__in=result.ignored).values_list("wa_id", flat=True))
    ignored = [{"id": wa_id, "reason": "in another chat" if wa_id in known else "not found"}
               for wa_id in result.ignored]
    return [result], ignored


@tool("mark_messages_read", "Mark messages read: every unread incoming message of a chat (with its twins), or "
      "exactly the given message IDs. Sends WhatsApp read receipts when connected and SEND_READ_RECEIPTS is on; "
      "works offline too (local state only).",
      text("chat", "The chat: a JID, a phone number or a chat/contact name. Give chat, message_ids, or both.",
           max_length=200),
      strings("message_ids", "Message IDs to mark (at most 500). With chat, IDs from other chats are ignored and "
              "reported; without chat, IDs whose chat is not allowed are skipped and reported.", max_items=500,
              max_length=200),
      idempotent=True,
      response="Labelled lines: Chat and JID (when given; else Chats: the chats marked), Newly marked read "
               "(already-read and own messages are not counted), Receipts (sent, queued, failed, or skipped: "
               "offline or disabled), and Ignored IDs with the reason for each.",
      errors=(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT,
              ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED),
      examples=('mark_messages_read(chat="Alice")',
                'mark_messages_read(message_ids=["3EB0A1B2C3D4E5F6A7B8C9", "3EB0FFEEDDCCBBAA998877"])',
                'mark_messages_read(chat="+15551234567", message_ids=["3EB0A1B2C3D4E5F6A7B8C9"])'),
      related=("list_messages", "catch_up", "list_chats"),
      pitfalls=("Give at least one of chat and message_ids; an empty message_ids list is refused.",
                "Own messages are never unread, so they never count as newly marked.",
                "Offline, messages are marked locally and the result says no receipt was sent."))
def mark_messages_read(call: ToolCall) -> ToolResult:
    raw_ids = call["message_ids"]
    if call["chat"] is None and raw_ids is None:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "Give chat (to mark the whole chat read), message_ids, or "
                            "both.", details={"field": "chat", "fields": ["chat", "message_ids"]})
    if raw_ids is not None and not raw_ids:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "message_ids is empty; omit it to mark the whole chat read.",
                            details={"field": "message_ids"})
    ids = _clean_ids(raw_ids) if raw_ids is not None else None
    chat = _target(call, "chat") if call["chat"] is not None else None
    if chat is not None:
        results, ignored = _mark_chat(call, chat, ids)
    else:
        results, ignored = _mark_by_ids(call, ids or [])
    marked = sum(result.marked for result in results)
    outcome, error_code = _combined(results)
    receipts = RECEIPT_TEXT[outcome] + (f" ({error_code})" if error_code else "")
    chat_name = None
    if chat is not None:
        chat_name = chat.name if chat.name not in chat.twins else chat.jid
    listed = ", ".join(f"{item['id']} ({item['reason']})" for item in ignored)
    touched = ", ".join(result.chat_jid for result in results) if chat is None else None
    text_lines = lines(("Chat", chat_name), ("JID", chat.jid if chat else None), ("Chats", touched or None),
                       ("Newly marked read", marked), ("Receipts", receipts),
                       ("Ignored IDs", listed or None))
    call.audit.update({"marked": marked, "receipts": str(outcome), "ignored": len(ignored)})
    data = {"chat": {"jid": chat.jid, "name": chat_name, "twins": list(chat.twins)} if chat else None,
            "marked": marked, "receipts": str(outcome), "receipts_sent": outcome == ReceiptOutcome.SENT,
            "receipt_error": error_code or None, "ignored": ignored,
            "chats": [result.chat_jid for result in results]}
    return ToolResult(text_lines, data)


# --- export_chat_data ------------------------------------------------------------------------------


def _preview(content: str, fmt_name: str) -> tuple[str, list[Any]]:
    """The first rows of an export: CSV as its header and first records, JSON as its first messages."""
    if fmt_name == "csv":
        records = list(csv.reader(io.StringIO(content, newline="")))
        head = records[:EXPORT_PREVIEW_ROWS + 1]
        out = io.StringIO()
        csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(head)
        header = records[0] if records else []
        return out.getvalue().rstrip("\n"), [dict(zip(header, row, strict=False)) for row in head[1:]]
    messages = json.loads(content).get("messages", [])[:EXPORT_PREVIEW_ROWS]
    return json.dumps(messages, ensure_ascii=False, indent=2), messages


@tool("export_chat_data", "Export one chat (with its phone/LID twins) from the local store as JSON or CSV: up to "
      "the 10,000 most recent messages, oldest first. The full export is attached as an embedded resource.",
      text("jid", "The chat's exact JID (<digits>@s.whatsapp.net, <digits>@lid, <id>@g.us) or a phone number.",
           required=True, max_length=200),
      choice("format", "json (an object with the chat and its messages) or csv (one header row, every cell "
             "quoted).", ("json", "csv"), default="json"),
      read_only=True, idempotent=True,
      response="An embedded resource (whatsapp-export://<device>/<jid>.<format>, text/csv or application/json) "
               "holding the full export, then labelled lines: Chat, JID, Messages, Format, Exported at, Full "
               "export (the resource URI), and a preview of the first 5 rows or messages.",
      errors=(ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, ErrorCode.NOT_FOUND),
      examples=('export_chat_data(jid="15551234567@s.whatsapp.net")',
                'export_chat_data(jid="+15551234567", format="csv")',
                'export_chat_data(jid="120363041234567890@g.us", format="json")'),
      related=("list_chats", "list_messages"),
      pitfalls=("Names are not accepted: use the JID (list_chats shows it) or a phone number.",
                "CSV cells starting with =, +, -, @, tab or CR get a leading ' against formula injection.",
                "Timestamps in the export are ISO-8601 UTC."))
def export_chat_data(call: ToolCall) -> ToolResult:
    device = call.device
    jid = person_or_jid(call["jid"], "jid")
    call.audit["jid"] = jid
    call.ensure_allowed(jid)
    directory = Directory(device, only=[jid])
    twins = directory.twins(jid)
    stored = {chat.jid: chat for chat in Chat.objects.filter(device=device, jid__in=twins)}
    if not stored:
        raise WhatsAppError(ErrorCode.NOT_FOUND, f"No chat with {jid} in this device's store.",
                            details={"jid": jid}, recovery="Use list_chats to find the chat's JID.")
    anchor = stored.get(jid) or next(iter(stored.values()))
    export = export_chat(device, anchor.jid, call["format"])
    name = _chat_label(directory, anchor.jid)
    uri = f"whatsapp-export://{device.pk}/{export.jid}.{export.format}"
    preview, rows = _preview(export.content, export.format)
    shown = min(EXPORT_PREVIEW_ROWS, export.count)
    head = lines(("Chat", name), ("JID", export.jid), ("Group", "yes" if export.is_group else None),
                 ("Twins included", ", ".join(twins) if len(twins) > 1 else None),
                 ("Messages", export.count), ("Format", export.format),
                 ("Exported at", fmt.when(export.exported_at)),
                 ("Full export", f"attached as embedded resource {uri} ({export.mime_type}, "
                                 f"{len(export.content.encode())} bytes)"))
    text_out = f"{head}\n\nPreview (first {shown} of {export.count}):\n{preview}" if export.count else \
        f"{head}\n\nThe chat has no stored messages."
    block = {"type": "resource", "resource": {"uri": uri, "mimeType": export.mime_type, "text": export.content}}
    call.audit.update({"count": export.count, "format": export.format})
    data = {"jid": export.jid, "name": name, "is_group": export.is_group, "twins": twins, "format": export.format,
            "exported_at": fmt.iso(export.exported_at), "message_count": export.count, "resource_uri": uri,
            "mime_type": export.mime_type, "file_name": export.file_name, "bytes": len(export.content.encode()),
            "preview": rows}
    return ToolResult(text_out, data, blocks=[block])
