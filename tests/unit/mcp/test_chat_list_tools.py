"""list_chats (§2.7), catch_up (§2.8, §3.2) and search_contacts (§2.9) over MCP: the unified chat list
(twins merged, display names), the whitelist applied before paging, labelled facts, honest counts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

import whatsapp.mcp.tools  # noqa: F401  (registers the tools: dispatch looks names up before importing them)
from tests.factories import connected_device, make_approval, make_chat, make_contact, make_device, make_message
from tests.support.mcp import ok, refused
from whatsapp.errors import ErrorCode
from whatsapp.models import Chat, DeliveryStatus, Device, Direction, Message

PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
OTHER = "15559990000@s.whatsapp.net"
OWN = "15550001111@s.whatsapp.net"
GROUP = "120363041234567890@g.us"
MEMBER = "15145550102@s.whatsapp.net"
NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def defaults(settings):
    settings.ALLOWED_CONTACTS = []
    settings.DISABLED_TOOLS = []
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def at(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


def said(device: Device, chat: Chat, wa_id: str, minutes_ago: float, body: str = "hi", **fields) -> Message:
    """An incoming message, with the chat's activity and preview moved as ingest does."""
    fields.setdefault("sender_jid", chat.jid if chat.kind == "direct" else MEMBER)
    message = make_message(device, chat, wa_id, body=body, timestamp=at(minutes_ago), **fields)
    if chat.last_message_at is None or message.timestamp > chat.last_message_at:
        chat.last_message_at, chat.last_message_preview = message.timestamp, body
        Chat.objects.filter(pk=chat.pk).update(last_message_at=message.timestamp, last_message_preview=body)
    return message


def mine(device: Device, chat: Chat, wa_id: str, minutes_ago: float, body: str = "mine") -> Message:
    return said(device, chat, wa_id, minutes_ago, body, direction=Direction.OUTBOUND, from_me=True, sender_jid=OWN,
                status=DeliveryStatus.SENT)


def names_in(text: str) -> list[str]:
    return re.findall(r"^Name: (.+)$", text, re.M)


def allow(device: Device, entries: str) -> None:
    Device.objects.filter(pk=device.pk).update(allowed_contacts=entries)


@pytest.fixture
def store(db, clock) -> Device:
    device = make_device()
    contact = make_contact(device, phone_jid=PHONE, lid=LID, push_name="ally", custom_name="Alice Cooper")
    phone_chat = make_chat(device, PHONE, name="ally", contact=contact)
    lid_chat = make_chat(device, LID, contact=contact)
    said(device, phone_chat, "P1", 200, "old news", read_at=at(190))
    said(device, lid_chat, "L1", 30, "are you coming tonight?")
    said(device, lid_chat, "L2", 20, "the band starts at nine")
    mine(device, phone_chat, "P2", 10, "on my way")
    group = make_chat(device, GROUP, name="Family")
    said(device, group, "G1", 5, "dinner at 8?", sender_name="Joe")
    bob = make_chat(device, OTHER, name="Bob")
    said(device, bob, "B1", 26 * 60, "see you next week", read_at=at(26 * 60))
    return device


# --- list_chats ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_unified_list_merges_twins_and_conveys_each_chat(store: Device) -> None:
    outcome = ok(store, "list_chats")
    text = outcome.text
    assert text.startswith("Chats: 3 shown (of 3), page 0 (limit 20)")
    assert names_in(text) == ["Family", "Alice Cooper", "Bob"], "newest activity first"
    alice = text.split("Name: Alice Cooper\n", 1)[1].split("\n\n", 1)[0]
    assert "Type: direct" in alice
    assert f"JID: {LID} (LID)" in alice
    assert "Unread: 2" in alice, "own messages never count"
    assert "Last activity: 2025-03-10 14:50:00 (today, 10 min ago)" in alice
    assert "Messages: 4 total, 3 in the last hour" in alice
    assert "Preview: on my way" in alice
    assert f"Twins: phone +15551234567, 2 addresses, primary LID {LID}" in alice
    family = text.split("Name: Family\n", 1)[1].split("\n\n", 1)[0]
    assert "Type: group" in family
    assert f"JID: {GROUP} (group)" in family
    assert "Twins:" not in family
    bob = text.split("Name: Bob\n", 1)[1]
    assert "Unread:" not in bob, "an unread count of 0 is left out"
    assert f"JID: {OTHER} (user)" in bob
    data = outcome.data
    assert (data["count"], data["total"], data["page"], data["has_more"]) == (3, 3, 0, False)
    entry = data["chats"][1]
    assert (entry["jid"], entry["name"], entry["unread"], entry["message_count"]) == (LID, "Alice Cooper", 2, 4)
    assert set(entry["twins"]) == {PHONE, LID}
    assert entry["phone"] == "15551234567"


@pytest.mark.django_db
def test_filter_and_groups_only(store: Device) -> None:
    assert names_in(ok(store, "list_chats", filter="COOP").text) == ["Alice Cooper"]
    assert names_in(ok(store, "list_chats", groups_only=True).text) == ["Family"]
    assert ok(store, "list_chats", groups_only=True).text.startswith("Group chats: 1 shown")
    nothing = ok(store, "list_chats", filter="zebra")
    assert "No chats match." in nothing.text
    assert nothing.data["chats"] == []


@pytest.mark.django_db
def test_pages_with_a_more_hint(store: Device) -> None:
    first = ok(store, "list_chats", limit=2)
    assert names_in(first.text) == ["Family", "Alice Cooper"]
    assert "More: more chats exist; call list_chats with page 1." in first.text
    assert (first.data["has_more"], first.data["next_page"]) == (True, 1)
    second = ok(store, "list_chats", limit=2, page=1)
    assert names_in(second.text) == ["Bob"]
    assert "More:" not in second.text


@pytest.mark.django_db
def test_the_whitelist_drops_chats_before_paging(clock) -> None:
    device = make_device()
    for n in range(3):  # the newest chats are not allowed
        said(device, make_chat(device, f"1555000990{n}@s.whatsapp.net", name=f"Stranger {n}"), f"S{n}", n)
    allowed = [f"1555000880{n}" for n in range(3)]
    for n, number in enumerate(allowed):
        said(device, make_chat(device, f"{number}@s.whatsapp.net", name=f"Friend {n}"), f"F{n}", 10 + n)
    allow(device, ",".join(f"+{number}" for number in allowed))
    first = ok(device, "list_chats", limit=2)
    assert names_in(first.text) == ["Friend 0", "Friend 1"], "a full page of allowed chats"
    assert first.data["total"] == 3
    assert first.data["has_more"] is True
    assert names_in(ok(device, "list_chats", limit=2, page=1).text) == ["Friend 2"]


@pytest.mark.django_db
def test_an_empty_list_hints_at_the_next_step() -> None:
    offline = ok(make_device(), "list_chats")
    assert "No chats yet." in offline.text
    assert "authenticate" in offline.text
    online = ok(connected_device(), "list_chats")
    assert "chats appear here as messages arrive" in online.text
    assert "authenticate" not in online.text


@pytest.mark.django_db
@pytest.mark.parametrize(("arguments", "field"), [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"page": -1}, "page"), ({"filter": "x" * 201}, "filter"),
    ({"groups_only": "yes"}, "groups_only"),
])
def test_list_chats_bad_arguments(arguments: dict, field: str) -> None:
    outcome = refused(make_device(), "list_chats", ErrorCode.VALIDATION_ERROR, **arguments)
    assert outcome.details["field"] == field


# --- catch_up ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_catch_up_conveys_window_sections_and_times(store: Device) -> None:
    approval = make_approval(store, recipient_jid="15557770000@s.whatsapp.net", action="Deploy to production",
                             timeout_seconds=600)  # a recipient with no chat row is still shown
    outcome = ok(store, "catch_up", since="today")
    text = outcome.text
    assert "Catch-up: today" in text
    assert "Window: 2025-03-10 00:00:00 to 2025-03-10 15:00:00 (UTC)" in text
    assert "Generated at: 2025-03-10 15:00:00 UTC" in text
    assert "Active chats: 2" in text
    assert (f"- Chat: Family | JID: {GROUP} | Unread: 1 | Messages in window: 1 | Last activity: 2025-03-10 "
            "14:55:00 (today, 5 min ago)") in text
    assert "- Chat: Alice Cooper | JID: 118207457280017@lid | Unread: 2 | Messages in window: 4" in text
    assert "Questions awaiting a reply: 2" in text
    assert ("- Chat: Alice Cooper | From: Alice Cooper | Time: 2025-03-10 14:30:00 (today, 30 min ago) | "
            "Message ID: L1\n  Text: are you coming tonight?") in text
    assert "Unread: 3 messages in 2 chats" in text
    assert "Highlights: 3" in text
    assert "From: Joe | Time: 2025-03-10 14:55:00 (today, 5 min ago) | Message ID: G1" in text
    assert "Pending approvals: 1" in text
    assert (f"- ID: {approval.pk} | Action: Deploy to production | To: 15557770000@s.whatsapp.net "
            "(15557770000@s.whatsapp.net) | Created: 2025-03-10 15:00:00 (today, just now)") in text
    assert "Seconds left: 600" in text
    data = outcome.data
    assert data["unread"]["total"] == 3
    assert data["unread"]["chats"] == 2
    assert [q["message_id"] for q in data["questions"]] == ["G1", "L1"]
    assert data["approvals"][0]["id"] == approval.pk
    assert Message.objects.filter(wa_id="L1", read_at__isnull=True).exists(), "nothing is marked read"


@pytest.mark.django_db
def test_catch_up_reports_the_true_unread_total(clock) -> None:
    device = make_device()
    alice = make_chat(device, PHONE, name="Alice")
    bob = make_chat(device, OTHER, name="Bob")
    for n in range(60):
        said(device, alice if n % 2 else bob, f"U{n:02d}", 50 - n * 0.5, f"message {n}")
    outcome = ok(device, "catch_up", since="1h")
    assert "Unread: 60 messages in 2 chats" in outcome.text
    assert "Highlights: 5" in outcome.text
    assert outcome.data["unread"]["total"] == 60


@pytest.mark.django_db
def test_catch_up_states_empty_sections(clock) -> None:
    outcome = ok(make_device(), "catch_up", since="1h")
    text = outcome.text
    assert "Active chats: 0\n(none" in text
    assert "Questions awaiting a reply: 0\n(none)" in text
    assert "Unread: 0 messages in 0 chats" in text
    assert "Pending approvals: 0\n(none)" in text


@pytest.mark.django_db
def test_catch_up_windows(store: Device) -> None:
    assert "Active chats: 2" in ok(store, "catch_up", since="1h").text  # Family 5 min ago, Alice 10 min ago
    assert "Active chats: 2" in ok(store, "catch_up", since="4h").text  # Bob was active 26 h ago
    assert "Window: 2025-03-09 15:00:00 to 2025-03-10 15:00:00 (UTC)" in ok(store, "catch_up", since="24h").text
    assert "Window: 2025-03-03 15:00:00" in ok(store, "catch_up", since="this_week").text
    refused(store, "catch_up", ErrorCode.VALIDATION_ERROR, since="yesterday")


@pytest.mark.django_db
def test_catch_up_today_starts_at_local_midnight(settings, clock) -> None:
    settings.TIME_ZONE = "America/Toronto"
    device = make_device()
    chat = make_chat(device, PHONE, name="Alice")
    said(device, chat, "EARLY", 60 * 10, "early")  # 05:00 UTC: 01:00 EDT, after local midnight
    said(device, chat, "LATE", 60 * 12, "late")  # 03:00 UTC: 23:00 EDT the day before
    outcome = ok(device, "catch_up")
    # 2025-03-10 15:00 UTC is 11:00 EDT (DST began on 9 March), so today started at 04:00 UTC.
    assert "Window: 2025-03-10 00:00:00 to 2025-03-10 11:00:00 (America/Toronto)" in outcome.text
    assert "Unread: 1 message in 1 chat" in outcome.text


@pytest.mark.django_db
def test_catch_up_respects_the_whitelist(store: Device) -> None:
    allow(store, "+15551234567")
    make_approval(store, recipient_jid=OTHER, action="Hidden")
    shown = make_approval(store, recipient_jid=PHONE, action="Visible")
    outcome = ok(store, "catch_up", since="today")
    assert "Family" not in outcome.text
    assert "Unread: 2 messages in 1 chat" in outcome.text
    assert [a["id"] for a in outcome.data["approvals"]] == [shown.pk]


# --- search_contacts -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_contacts_match_by_display_name(store: Device) -> None:
    outcome = ok(store, "search_contacts", query="cooper")
    text = outcome.text
    assert text.startswith("Contacts found: 1 for 'cooper'")
    assert "Name: Alice Cooper" in text
    assert "Phone: +15551234567" in text
    assert "Unread: 2" in text
    assert f"JID: {LID} (LID)" in text
    assert "Last activity: 2025-03-10 14:50:00 (today, 10 min ago)" in text
    assert "Preview: on my way" in text
    match = outcome.data["matches"][0]
    assert (match["jid"], match["name"], match["phone"], match["unread"]) == (LID, "Alice Cooper", "15551234567", 2)


@pytest.mark.django_db
def test_a_query_without_digits_never_matches_every_chat(store: Device) -> None:
    outcome = ok(store, "search_contacts", query="xqzv")
    assert outcome.text == "No contacts found for 'xqzv'."
    assert outcome.data["matches"] == []
    assert ok(store, "search_contacts", query="whatsapp").data["matches"] == [], "JIDs are not matched by words"


@pytest.mark.django_db
def test_digits_match_phone_numbers_and_twins(store: Device) -> None:
    assert [m["name"] for m in ok(store, "search_contacts", query="555 123").data["matches"]] == ["Alice Cooper"]
    assert [m["name"] for m in ok(store, "search_contacts", query="1182074").data["matches"]] == ["Alice Cooper"]
    assert [m["name"] for m in ok(store, "search_contacts", query="+1 555 999").data["matches"]] == ["Bob"]


@pytest.mark.django_db
def test_include_chats_lists_the_chats_of_a_single_match(store: Device) -> None:
    group = Chat.objects.get(jid=GROUP)
    said(store, group, "G2", 4, "I'll bring wine", sender_jid=LID)
    outcome = ok(store, "search_contacts", query="Alice", include_chats=True)
    assert "Chats involving Alice Cooper: 2" in outcome.text
    assert f"- Type: direct | Name: Alice Cooper | JID: {LID}" in outcome.text
    assert f"- Type: group | Name: Family | JID: {GROUP}" in outcome.text
    assert [c["jid"] for c in outcome.data["matches"][0]["chats"]] == [LID, GROUP]
    several = ok(store, "search_contacts", query="a", include_chats=True)
    assert len(several.data["matches"]) > 1
    assert all(m["chats"] == [] for m in several.data["matches"])


@pytest.mark.django_db
def test_search_contacts_respects_the_whitelist_and_limit(store: Device) -> None:
    assert len(ok(store, "search_contacts", query="a", limit=1).data["matches"]) == 1
    assert [m["name"] for m in ok(store, "search_contacts", query="o").data["matches"]] == ["Alice Cooper", "Bob"]
    allow(store, "+15559990000")
    assert [m["name"] for m in ok(store, "search_contacts", query="o").data["matches"]] == ["Bob"]


@pytest.mark.django_db
@pytest.mark.parametrize(("arguments", "field"), [
    ({"query": ""}, "query"), ({"query": "   "}, "query"), ({"query": "x" * 501}, "query"),
    ({"query": "a", "limit": 0}, "limit"), ({"query": "a", "limit": 51}, "limit"), ({}, "query"),
])
def test_search_contacts_bad_arguments(arguments: dict, field: str) -> None:
    outcome = refused(make_device(), "search_contacts", ErrorCode.VALIDATION_ERROR, **arguments)
    assert outcome.details["field"] == field


@pytest.mark.django_db
@pytest.mark.parametrize(("tool", "arguments"), [
    ("list_chats", {}), ("catch_up", {}), ("search_contacts", {"query": "a"}),
])
def test_disabled_tools_are_refused(tool: str, arguments: dict) -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(disabled_tools=f"send_message, {tool}")
    refused(device, tool, ErrorCode.PERMISSION_TOOL_DISABLED, **arguments)


def test_annotations_are_read_only() -> None:
    from whatsapp.mcp.tooling import REGISTRY

    for name in ("list_messages", "search_messages", "list_chats", "catch_up", "search_contacts",
                 "export_chat_data"):
        spec = REGISTRY[name]
        assert spec.annotations()["readOnlyHint"] is True, name
        assert spec.annotations()["openWorldHint"] is False, name
        assert not spec.live, name


@pytest.mark.django_db
@pytest.mark.parametrize("tool", ["send_message", "list_messages", "search_messages", "list_chats", "catch_up",
                                  "search_contacts", "mark_messages_read", "export_chat_data"])
def test_get_tool_info_documents_each_tool(tool: str) -> None:
    from whatsapp.mcp.tooling import REGISTRY

    info = ok(make_device(), "get_tool_info", tool_name=tool)
    spec = REGISTRY[tool]
    assert {code.code for code in spec.errors} <= set(info.data["errors"])
    assert "PERMISSION_TOOL_DISABLED" in info.data["errors"]
    assert ("MESSAGE_NOT_CONNECTED" in info.data["errors"]) is spec.live
    assert len(spec.examples) >= 1
    assert all(example.startswith(f"{tool}(") for example in spec.examples)
    assert spec.response
    assert spec.description().endswith(f"Call get_tool_info with tool_name \"{tool}\" for examples, errors and the "
                                       "response format.")
