"""The chat list and what it holds: list_chats (§2.7), catch_up (§2.8, §3.2) and search_contacts
(§2.9) of reference/mcp-tools.md.

All three read the unified chat list (twins merged, display names, newest activity first) from the
local store; the whitelist drops chats it does not allow before any paging, so a full page stays full.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from whatsapp import jids
from whatsapp.errors import WhatsAppError
from whatsapp.mcp import formatting as fmt
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import ToolResult, choice, flag, integer, lines, text, tool
from whatsapp.services import digest as digests
from whatsapp.services.directory import ChatEntry, ContactMatch, page, unified_chats
from whatsapp.services.directory import search_contacts as find_contacts


def jid_type(jid: str) -> str:
    """user (phone JID), LID, group or broadcast."""
    if jids.is_group(jid):
        return "group"
    if jids.is_lid(jid):
        return "LID"
    if jids.is_phone(jid):
        return "user"
    return "broadcast"


def _twins_text(entry_jid: str, twins: list[str], phone: str | None) -> str | None:
    """A person's known addresses: phone number (or phone JID), how many addresses, the primary LID."""
    if jids.is_group(entry_jid):
        return None
    phone_jids = [t for t in twins if jids.is_phone(t)]
    lids = [t for t in twins if jids.is_lid(t)]
    parts = []
    if phone:
        parts.append(f"phone +{phone}")
    elif phone_jids:
        parts.append(f"phone JID {phone_jids[0]}")
    parts.append(f"{len(twins)} address{'es' if len(twins) != 1 else ''}")
    if lids:
        parts.append(f"primary LID {lids[0]}")
    return ", ".join(parts)


def _activity(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    return f"{fmt.when(moment)} ({fmt.day_label(moment, now)}, {fmt.ago(moment, now)})"


def _connected(call: ToolCall) -> bool:
    try:
        call.device.ensure_connected()
    except WhatsAppError:
        return False
    return True


# --- list_chats ------------------------------------------------------------------------------------


def _chat_lines(entry: ChatEntry, now: datetime) -> str:
    return lines(
        ("Name", entry.name), ("Type", "group" if entry.is_group else str(entry.kind)),
        ("JID", f"{entry.jid} ({jid_type(entry.jid)})"),
        ("Unread", entry.unread or None),
        ("Last activity", _activity(entry.last_message_at, now)),
        ("Messages", f"{entry.message_count} total, {entry.messages_last_hour} in the last hour"),
        ("Preview", entry.preview or None),
        ("Twins", _twins_text(entry.jid, entry.twins, entry.phone)),
    )


def _chat_data(entry: ChatEntry) -> dict[str, Any]:
    return {"jid": entry.jid, "jid_type": jid_type(entry.jid), "kind": str(entry.kind), "is_group": entry.is_group,
            "name": entry.name, "unread": entry.unread, "message_count": entry.message_count,
            "messages_last_hour": entry.messages_last_hour, "last_message_at": fmt.iso(entry.last_message_at),
            "preview": entry.preview, "phone": entry.phone, "twins": list(entry.twins)}


@tool("list_chats", "List chats from the local store, newest activity first, with a person's phone and LID chats "
      "merged into one entry; optionally filtered by name or to groups.",
      text("filter", "Only chats whose display name contains this text (case-insensitive).", max_length=200),
      flag("groups_only", "Only group chats."),
      integer("limit", "Chats per page (1-100).", minimum=1, maximum=100, default=20),
      integer("page", "Page number from 0 (the most recently active chats).", minimum=0, default=0),
      read_only=True, idempotent=True,
      response="A header line \"Chats: N shown, page P\", then per chat labelled lines Name, Type (group or "
               "direct), JID (with its type: user, LID or group), Unread (when above 0), Last activity, Messages "
               "(total and in the last hour), Preview (60 characters) and, for people, Twins (phone, address "
               "count, primary LID); a \"More:\" hint naming the next page when more chats exist.",
      examples=("list_chats()", 'list_chats(filter="family", groups_only=true)', "list_chats(limit=50, page=1)"),
      related=("search_contacts", "list_messages", "catch_up"),
      pitfalls=("The filter matches display names only; to find a number use search_contacts.",
                "A person's phone JID and LID chats show as one entry keyed by the LID."))
def list_chats(call: ToolCall) -> ToolResult:
    now = timezone.now()
    groups_only, name_filter = call["groups_only"], call["filter"]
    limit, number = call["limit"], call["page"]
    entries = unified_chats(call.device, groups_only=groups_only, name_filter=name_filter, now=now)
    shown = page(entries, limit, number)
    has_more = len(entries) > (number + 1) * limit
    what = "Group chats" if groups_only else "Chats"
    header = f"{what}: {len(shown)} shown (of {len(entries)}), page {number} (limit {limit})"
    if name_filter and name_filter.strip():
        header += f"\nFilter: {name_filter.strip()}"
    parts = [header]
    if shown:
        parts += [_chat_lines(entry, now) for entry in shown]
    elif entries:
        parts.append(f"No chats on this page; the last page is {max(0, (len(entries) - 1) // limit)}.")
    elif name_filter or groups_only:
        parts.append("No chats match." + (" Hint: search_contacts also matches phone numbers." if name_filter else ""))
    elif _connected(call):
        parts.append("No chats yet. Hint: chats appear here as messages arrive.")
    else:
        parts.append("No chats yet. Hint: WhatsApp is not connected; call authenticate to link the device, then "
                     "chats appear as messages arrive.")
    if has_more:
        parts.append(f"More: more chats exist; call list_chats with page {number + 1}.")
    call.audit["count"] = len(shown)
    data = {"count": len(shown), "total": len(entries), "page": number, "limit": limit, "has_more": has_more,
            "next_page": number + 1 if has_more else None, "chats": [_chat_data(entry) for entry in shown]}
    return ToolResult("\n\n".join(parts), data)


# --- catch_up --------------------------------------------------------------------------------------


def _item_time(moment: datetime, now: datetime) -> str:
    return f"{fmt.when(moment)} ({fmt.day_label(moment, now)}, {fmt.ago(moment, now)})"


def _unread_body(item: digests.UnreadMessage) -> str:
    if item.has_media:
        return f"[{item.kind}] {item.body}".rstrip()
    if item.kind != "text" and not item.body:
        return f"[{item.kind}]"
    return item.body or "[empty]"


def _unread_lines(item: digests.UnreadMessage, now: datetime) -> str:
    return (f"- Chat: {item.chat_name} | From: {item.sender_name} | Time: {_item_time(item.timestamp, now)} | "
            f"Message ID: {item.message_id}\n  Text: {_unread_body(item)}")


def _unread_data(item: digests.UnreadMessage) -> dict[str, Any]:
    return {"message_id": item.message_id, "chat_jid": item.chat_jid, "chat_name": item.chat_name,
            "sender_jid": item.sender_jid, "sender_name": item.sender_name, "timestamp": fmt.iso(item.timestamp),
            "time": fmt.when(item.timestamp), "body": item.body, "type": item.kind, "has_media": item.has_media}


@tool("catch_up", "Summarise recent activity from the local store: active chats, questions awaiting a reply, "
      "unread messages with highlights, and pending approvals. Marks nothing read.",
      choice("since", "The window: 1h, 4h, today (since local midnight), 24h or this_week (the last 7 days).",
             digests.SINCE_CHOICES, default=digests.DEFAULT_SINCE),
      read_only=True, idempotent=True,
      response="Window (label, start and end, zone) and Generated at; then the sections Active chats, Questions "
               "awaiting a reply, Unread (true total and chat count) with Highlights, and Pending approvals. Every "
               "item carries its time, a day label (today, yesterday or the date) and its age; an empty section "
               "says so.",
      examples=("catch_up()", 'catch_up(since="1h")', 'catch_up(since="this_week")'),
      related=("list_chats", "list_messages", "mark_messages_read", "check_approvals"),
      pitfalls=("today starts at local midnight of the configured zone (TZ), not 24 hours ago.",
                "Unread counts only incoming messages; own messages are never unread."))
def catch_up(call: ToolCall) -> ToolResult:
    digest = digests.catch_up(call.device, call["since"])
    now = digest.generated_at
    header = lines(("Catch-up", digest.since),
                   ("Window", f"{fmt.when(digest.start)} to {fmt.when(digest.end)} ({digest.zone})"),
                   ("Generated at", f"{fmt.when(now)} {digest.zone}"))
    active = [f"Active chats: {len(digest.active_chats)}"]
    for chat in digest.active_chats:
        active.append(f"- Chat: {chat.name} | JID: {chat.jid} | Unread: {chat.unread} | "
                      f"Messages in window: {chat.window_messages} | Last activity: "
                      f"{_item_time(chat.last_message_at, now) if chat.last_message_at else 'never'}"
                      + (f"\n  Preview: {chat.preview}" if chat.preview else ""))
    if not digest.active_chats:
        active.append("(none: no chat was active in this window)")
    questions = [f"Questions awaiting a reply: {len(digest.questions)}"]
    questions += [_unread_lines(item, now) for item in digest.questions]
    if not digest.questions:
        questions.append("(none)")
    unread = [f"Unread: {digest.unread_total} message{'s' if digest.unread_total != 1 else ''} in "
              f"{digest.unread_chats} chat{'s' if digest.unread_chats != 1 else ''}",
              f"Highlights: {len(digest.highlights)}"]
    unread += [_unread_lines(item, now) for item in digest.highlights]
    if not digest.highlights:
        unread.append("(none: no unread messages in this window)")
    approvals = [f"Pending approvals: {len(digest.approvals)}"]
    for approval in digest.approvals:
        approvals.append(f"- ID: {approval.id} | Action: {approval.action} | To: {approval.recipient_name} "
                         f"({approval.recipient_jid}) | Created: {_item_time(approval.created_at, now)} | "
                         f"Expires: {fmt.when_zoned(approval.expires_at)} | Seconds left: {approval.seconds_left}")
    if not digest.approvals:
        approvals.append("(none)")
    text_out = "\n\n".join([header, "\n".join(active), "\n".join(questions), "\n".join(unread),
                            "\n".join(approvals)])
    call.audit.update({"since": digest.since, "unread": digest.unread_total})
    data = {
        "since": digest.since, "zone": digest.zone, "start": fmt.iso(digest.start), "end": fmt.iso(digest.end),
        "generated_at": fmt.iso(now),
        "active_chats": [{"jid": c.jid, "kind": str(c.kind), "name": c.name, "unread": c.unread,
                          "window_messages": c.window_messages, "last_message_at": fmt.iso(c.last_message_at),
                          "preview": c.preview} for c in digest.active_chats],
        "unread": {"total": digest.unread_total, "chats": digest.unread_chats,
                   "highlights": [_unread_data(item) for item in digest.highlights]},
        "questions": [_unread_data(item) for item in digest.questions],
        "approvals": [{"id": a.id, "action": a.action, "recipient_jid": a.recipient_jid,
                       "recipient_name": a.recipient_name, "created_at": fmt.iso(a.created_at),
                       "expires_at": fmt.iso(a.expires_at), "seconds_left": a.seconds_left}
                      for a in digest.approvals],
    }
    return ToolResult(text_out, data)


# --- search_contacts -------------------------------------------------------------------------------


def _match_lines(match: ContactMatch, now: datetime) -> str:
    block = lines(
        ("Name", match.name), ("Phone", f"+{match.phone}" if match.phone else None),
        ("Unread", match.unread), ("JID", f"{match.jid} ({jid_type(match.jid)})"),
        ("Last activity", _activity(match.last_message_at, now)), ("Preview", match.preview or None),
    )
    if match.chats:
        related = [f"Chats involving {match.name}: {len(match.chats)}"]
        related += [f"- Type: {'group' if c.kind == 'group' else c.kind} | Name: {c.name} | JID: {c.jid} | "
                    f"Last activity: {_activity(c.last_message_at, now)}" for c in match.chats]
        block += "\n" + "\n".join(related)
    return block


@tool("search_contacts", "Find contacts and chats in the local store by name, or by number when the query holds "
      "digits; optionally list the chats involving a single match.",
      text("query", "Part of a display name (case-insensitive), or digits of a phone number / JID.", required=True,
           min_length=1, max_length=500),
      flag("include_chats", "With exactly one match, also list up to 10 chats involving it (its direct chat and "
           "the groups where it has written)."),
      integer("limit", "Maximum matches (1-50).", minimum=1, maximum=50, default=20),
      read_only=True, idempotent=True,
      response="A header line \"Contacts found: N\", then per match labelled lines Name, Phone (people), Unread, "
               "JID (with its type), Last activity and Preview (60 characters); with include_chats and one match, "
               "the chats involving it. No match is a success: \"No contacts found\".",
      examples=('search_contacts(query="alice")', 'search_contacts(query="555 123")',
                'search_contacts(query="Bob", include_chats=true)'),
      related=("list_chats", "send_message", "list_messages", "set_contact_name"),
      pitfalls=("A query without digits matches names only, never numbers or JIDs.",
                "include_chats lists chats only when exactly one contact matches."))
def search_contacts(call: ToolCall) -> ToolResult:
    now = timezone.now()
    query = call["query"]
    matches = find_contacts(call.device, query, include_chats=call["include_chats"], limit=call["limit"])
    shown = query.strip()
    if matches:
        parts = [f"Contacts found: {len(matches)} for {shown!r}"]
        parts += [_match_lines(match, now) for match in matches]
        text_out = "\n\n".join(parts)
    else:
        text_out = f"No contacts found for {shown!r}."
    call.audit["count"] = len(matches)
    data = {"query": shown, "count": len(matches), "matches": [
        {"jid": m.jid, "jid_type": jid_type(m.jid), "kind": str(m.kind), "name": m.name, "phone": m.phone,
         "unread": m.unread, "last_message_at": fmt.iso(m.last_message_at), "preview": m.preview,
         "twins": list(m.twins),
         "chats": [{"jid": c.jid, "kind": str(c.kind), "name": c.name, "last_message_at": fmt.iso(c.last_message_at)}
                   for c in m.chats]} for m in matches]}
    return ToolResult(text_out, data)
