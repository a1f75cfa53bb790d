"""list_messages over MCP (reference/mcp-tools.md §2.5): one chat and its twins, newest page first shown
oldest → newest, display names, paging hints, strict date bounds in the configured zone, context blocks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

import whatsapp.mcp.tools  # noqa: F401  (registers the tools: dispatch looks names up before importing them)
from tests.factories import make_chat, make_contact, make_device, make_message
from tests.support.mcp import ok, refused
from whatsapp.errors import ErrorCode
from whatsapp.models import Chat, DeliveryStatus, Device, Direction, Message

PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
OWN = "15550001111@s.whatsapp.net"
GROUP = "120363041234567890@g.us"
MEMBER = "15145550102@s.whatsapp.net"
BASE = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def defaults(settings):
    settings.ALLOWED_CONTACTS = []
    settings.DISABLED_TOOLS = []
    settings.TIME_ZONE = "UTC"


def message(device: Device, chat: Chat, wa_id: str, minutes: int, body: str = "", **fields) -> Message:
    fields.setdefault("sender_jid", chat.jid if chat.kind == "direct" else MEMBER)
    return make_message(device, chat, wa_id, body=body or f"body of {wa_id}",
                        timestamp=BASE + timedelta(minutes=minutes), **fields)


def ids_in(text: str) -> list[str]:
    return re.findall(r"Message ID: (\S+)", text)


@pytest.mark.django_db
def test_a_page_conveys_chat_count_page_and_each_message() -> None:
    device = make_device()  # offline: reading needs no connection
    chat = make_chat(device, PHONE, name="Alice")
    message(device, chat, "M1", 1, "hello there")
    make_message(device, chat, "M2", direction=Direction.OUTBOUND, from_me=True, sender_jid=OWN, body="hi Alice",
                 status=DeliveryStatus.DELIVERED, timestamp=BASE + timedelta(minutes=2))
    message(device, chat, "M3", 3, "how are you?", read_at=timezone.now())
    outcome = ok(device, "list_messages", chat="Alice")
    text = outcome.text
    assert "Chat: Alice" in text
    assert f"JID: {PHONE}" in text
    assert "Messages shown: 3" in text
    assert "Page: 0" in text
    assert ids_in(text) == ["M1", "M2", "M3"], "the page reads oldest to newest"
    assert "Time: 2025-03-10 12:01:00 | From: Alice | Message ID: M1 | Read: unread\nText: hello there" in text
    assert "From: You | Message ID: M2 | Read: own message (delivered)" in text
    assert "Message ID: M3 | Read: read" in text
    assert "More:" not in text
    data = outcome.data
    assert (data["chat"]["jid"], data["chat"]["name"], data["count"], data["page"]) == (PHONE, "Alice", 3, 0)
    assert [m["id"] for m in data["messages"]] == ["M1", "M2", "M3"]
    assert data["messages"][0] | {"sender_name": "Alice", "unread": True, "from_me": False, "body": "hello there",
                                  "time": "2025-03-10 12:01:00"} == data["messages"][0]
    assert data["messages"][1]["sender_name"] == "You"
    assert data["has_more"] is False


@pytest.mark.django_db
def test_twins_are_read_together_under_the_custom_name() -> None:
    device = make_device()
    contact = make_contact(device, phone_jid=PHONE, lid=LID, push_name="ally", custom_name="Alice Cooper")
    phone_chat = make_chat(device, PHONE, name="ally", contact=contact)
    lid_chat = make_chat(device, LID, name="", contact=contact)
    message(device, phone_chat, "P1", 1)
    message(device, lid_chat, "L1", 2)
    message(device, phone_chat, "P2", 3)
    make_chat(device, "15559990000@s.whatsapp.net", name="Bob")
    for query in ("Alice Cooper", PHONE, LID, "+1 555 123 4567"):
        outcome = ok(device, "list_messages", chat=query)
        assert ids_in(outcome.text) == ["P1", "L1", "P2"], query
        assert "Chat: Alice Cooper" in outcome.text
        assert outcome.text.count("From: Alice Cooper") == 3
        assert set(outcome.data["chat"]["twins"]) == {PHONE, LID}


@pytest.mark.django_db
def test_group_senders_show_display_name_else_push_name_else_number() -> None:
    device = make_device()
    group = make_chat(device, GROUP, name="Family")
    make_contact(device, phone_jid=MEMBER, custom_name="Uncle Joe", push_name="joe")
    message(device, group, "G1", 1, sender_jid=MEMBER, sender_name="joe")
    message(device, group, "G2", 2, sender_jid="15145550199@s.whatsapp.net", sender_name="Cousin Ann")
    message(device, group, "G3", 3, sender_jid="15145550177@s.whatsapp.net", sender_name="")
    text = ok(device, "list_messages", chat="Family").text
    assert "Chat: Family" in text
    assert "From: Uncle Joe | Message ID: G1" in text
    assert "From: Cousin Ann | Message ID: G2" in text
    assert "From: +15145550177 | Message ID: G3" in text


@pytest.mark.django_db
def test_media_markers_and_long_bodies() -> None:
    device = make_device()
    chat = make_chat(device, PHONE, name="Alice")
    message(device, chat, "IMG", 1, "look", type="image", media_file_name="beach.jpg")
    message(device, chat, "LONG", 2, "x" * 500)
    outcome = ok(device, "list_messages", chat=PHONE)
    assert "Text: [image: beach.jpg] look" in outcome.text
    long_line = next(line for line in outcome.text.splitlines() if line.startswith("Text: xxx"))
    assert len(long_line) == len("Text: ") + 200
    assert outcome.data["messages"][1]["truncated"] is True


@pytest.mark.django_db
def test_pages_are_newest_first_with_a_hint_while_more_exist() -> None:
    device = make_device()
    chat = make_chat(device, PHONE, name="Alice")
    for n in range(1, 6):
        message(device, chat, f"M{n}", n)
    first = ok(device, "list_messages", chat="Alice", limit=2)
    assert ids_in(first.text) == ["M4", "M5"]
    assert "More: more messages may exist; call list_messages with page 1." in first.text
    assert (first.data["has_more"], first.data["next_page"]) == (True, 1)
    assert ids_in(ok(device, "list_messages", chat="Alice", limit=2, page=1).text) == ["M2", "M3"]
    last = ok(device, "list_messages", chat="Alice", limit=2, page=2)
    assert ids_in(last.text) == ["M1"]
    assert "More:" not in last.text
    beyond = ok(device, "list_messages", chat="Alice", limit=2, page=3)
    assert ids_in(beyond.text) == []
    assert "No messages on this page." in beyond.text


@pytest.mark.django_db
def test_equal_timestamps_keep_arrival_order() -> None:
    device = make_device()
    chat = make_chat(device, PHONE, name="Alice")
    for wa_id in ("A", "B", "C"):
        message(device, chat, wa_id, 1)
    assert ids_in(ok(device, "list_messages", chat="Alice").text) == ["A", "B", "C"]
    assert ids_in(ok(device, "list_messages", chat="Alice", limit=2).text) == ["B", "C"]


@pytest.mark.django_db
@pytest.mark.parametrize(("arguments", "field"), [
    ({"limit": 0}, "limit"), ({"limit": -1}, "limit"), ({"limit": 201}, "limit"), ({"page": -1}, "page"),
    ({"context_messages": 11}, "context_messages"), ({"context_messages": -1}, "context_messages"),
    ({"limit": "10"}, "limit"), ({"before": "yesterday"}, "before"), ({"after": "2025-13-01"}, "after"),
    ({"before": "31/01/2025"}, "before"), ({"after": ""}, "after"),
])
def test_bad_bounds_and_dates_are_validation_errors(arguments: dict, field: str) -> None:
    device = make_device()
    make_chat(device, PHONE, name="Alice")
    outcome = refused(device, "list_messages", ErrorCode.VALIDATION_ERROR, chat="Alice", **arguments)
    assert outcome.details["field"] == field


@pytest.mark.django_db
def test_dates_without_offset_are_read_in_the_configured_zone(settings) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    device = make_device()
    chat = make_chat(device, PHONE, name="Alice")
    make_message(device, chat, "LATE_JAN31", timestamp=datetime(2025, 1, 31, 22, 30, tzinfo=UTC))  # 23:30 Berlin
    make_message(device, chat, "EARLY_FEB1", timestamp=datetime(2025, 1, 31, 23, 30, tzinfo=UTC))  # 00:30 Berlin
    assert ids_in(ok(device, "list_messages", chat="Alice", after="2025-02-01").text) == ["EARLY_FEB1"]
    assert ids_in(ok(device, "list_messages", chat="Alice", before="2025-02-01").text) == ["LATE_JAN31"]
    assert ids_in(ok(device, "list_messages", chat="Alice", after="2025-01-31T23:30").text) == ["EARLY_FEB1"]
    assert ids_in(ok(device, "list_messages", chat="Alice", after="2025-01-31T22:30:00Z").text) == ["EARLY_FEB1"]
    # Bounds are strict, and times are shown in the zone.
    outcome = ok(device, "list_messages", chat="Alice", after="2025-02-01T00:30:00+01:00")
    assert ids_in(outcome.text) == []
    assert "Time: 2025-02-01 00:30:00" in ok(device, "list_messages", chat="Alice").text


@pytest.mark.django_db
def test_context_blocks_mark_the_message_and_show_its_neighbours() -> None:
    device = make_device()
    chat = make_chat(device, PHONE, name="Alice")
    for n in range(1, 8):
        message(device, chat, f"M{n}", n)
    outcome = ok(device, "list_messages", chat="Alice", limit=2, page=1, include_context=True, context_messages=1)
    blocks = outcome.text.split("\n-----\n")
    assert len(blocks) == 2
    assert ids_in(blocks[0]) == ["M3", "M4", "M5"]
    assert ">> Time: " in blocks[0]
    assert re.search(r">> Time: [^\n]*Message ID: M4", blocks[0])
    assert ids_in(blocks[1])[-3:] == ["M4", "M5", "M6"]
    data = outcome.data["messages"][0]
    assert [m["id"] for m in data["context"]["before"]] == ["M3"]
    assert [m["id"] for m in data["context"]["after"]] == ["M5"]


@pytest.mark.django_db
def test_context_ignores_the_date_bounds_but_not_other_chats() -> None:
    device = make_device()
    chat = make_chat(device, PHONE, name="Alice")
    other = make_chat(device, "15559990000@s.whatsapp.net", name="Bob")
    message(device, chat, "BEFORE", 1)
    message(device, other, "OTHER", 2)
    message(device, chat, "HIT", 3)
    outcome = ok(device, "list_messages", chat="Alice", after="2025-03-10T12:02:00Z", include_context=True)
    assert ids_in(outcome.text) == ["BEFORE", "HIT"]


@pytest.mark.django_db
def test_an_empty_chat_is_a_success() -> None:
    device = make_device()
    outcome = ok(device, "list_messages", chat="+1 555 123 4567")
    assert "Messages shown: 0" in outcome.text
    assert "No messages in this chat." in outcome.text
    assert outcome.data["messages"] == []


@pytest.mark.django_db
def test_resolution_errors() -> None:
    device = make_device()
    make_chat(device, PHONE, name="Sarah Connor")
    make_chat(device, "15559990000@s.whatsapp.net", name="Sarah McLachlan")
    refused(device, "list_messages", ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, chat="Sarah")
    refused(device, "list_messages", ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, chat="Zebediah")
    refused(device, "list_messages", ErrorCode.VALIDATION_ERROR, chat="15551234567@c.us")


@pytest.mark.django_db
def test_a_chat_outside_the_whitelist_is_refused_by_name() -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(allowed_contacts="+15559990000")
    chat = make_chat(device, PHONE, name="Alice")
    message(device, chat, "M1", 1)
    outcome = refused(device, "list_messages", ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, chat="Alice")
    assert PHONE in outcome.text
    allowed = make_chat(device, "15559990000@s.whatsapp.net", name="Bob")
    message(device, allowed, "B1", 1)
    assert ids_in(ok(device, "list_messages", chat="Bob").text) == ["B1"]


@pytest.mark.django_db
def test_a_disabled_list_is_refused() -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(disabled_tools="list_messages")
    refused(device, "list_messages", ErrorCode.PERMISSION_TOOL_DISABLED, chat="Alice")
