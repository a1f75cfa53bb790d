"""search_messages over MCP (reference/mcp-tools.md §2.6): full-text hits newest first, a chat scope that
includes twins and never silently widens, the whitelist applied before paging, labelled hits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

import whatsapp.mcp.tools  # noqa: F401  (registers the tools: dispatch looks names up before importing them)
from tests.factories import make_chat, make_contact, make_device, make_message
from tests.support.mcp import ok, refused
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, Device, Direction, Message
from whatsapp.search import service

PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
OTHER = "15559990000@s.whatsapp.net"
OWN = "15550001111@s.whatsapp.net"
BASE = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def defaults(settings):
    settings.ALLOWED_CONTACTS = []
    settings.DISABLED_TOOLS = []
    settings.TIME_ZONE = "UTC"


def message(device: Device, chat: Chat, wa_id: str, minutes: int, body: str, **fields) -> Message:
    fields.setdefault("sender_jid", chat.jid)
    return make_message(device, chat, wa_id, body=body, timestamp=BASE + timedelta(minutes=minutes), **fields)


def ids_in(text: str) -> list[str]:
    return re.findall(r"Message ID: (\S+)", text)


@pytest.fixture
def store(db) -> Device:
    device = make_device()
    contact = make_contact(device, phone_jid=PHONE, lid=LID, custom_name="Alice Cooper")
    phone_chat = make_chat(device, PHONE, name="alice", contact=contact)
    lid_chat = make_chat(device, LID, contact=contact)
    bob = make_chat(device, OTHER, name="Bob")
    message(device, phone_chat, "A1", 1, "the invoice is attached")
    message(device, lid_chat, "A2", 2, "did you pay the invoice?")
    message(device, bob, "B1", 3, "my invoice for March")
    message(device, bob, "B2", 4, "nothing to see here")
    make_message(device, bob, "B3", direction=Direction.OUTBOUND, from_me=True, sender_jid=OWN,
                 body="invoice received, thanks", timestamp=BASE + timedelta(minutes=5))
    return device


@pytest.mark.django_db
def test_hits_convey_query_count_page_and_each_hit(store: Device) -> None:
    outcome = ok(store, "search_messages", query="invoice")
    text = outcome.text
    assert "Query: invoice" in text
    assert "Scope: all chats" in text
    assert "Hits: 4" in text
    assert "Page: 0" in text
    assert ids_in(text) == ["B3", "B1", "A2", "A1"], "newest first"
    assert "Chat: Bob | Time: 2025-03-10 12:05:00 | From: You | Message ID: B3 | Read: own message (sent)" in text
    assert "Chat: Alice Cooper | Time: 2025-03-10 12:02:00 | From: Alice Cooper | Message ID: A2 | Read: unread" \
        in text
    assert "Text: did you pay the invoice?" in text
    assert "More:" not in text
    data = outcome.data
    assert (data["total"], data["count"], data["page"], data["has_more"]) == (4, 4, 0, False)
    assert [hit["id"] for hit in data["hits"]] == ["B3", "B1", "A2", "A1"]
    assert data["hits"][2]["chat_name"] == "Alice Cooper"
    assert data["hits"][2]["unread"] is True


@pytest.mark.django_db
def test_a_chat_scope_includes_its_twins_and_nothing_else(store: Device) -> None:
    for chat in ("Alice Cooper", PHONE, LID, "+15551234567"):
        outcome = ok(store, "search_messages", query="invoice", chat=chat)
        assert ids_in(outcome.text) == ["A2", "A1"], chat
        assert "Scope: Alice Cooper" in outcome.text


@pytest.mark.django_db
def test_an_unresolvable_chat_is_an_error_never_a_global_search(store: Device) -> None:
    refused(store, "search_messages", ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, query="invoice", chat="Zebediah")
    refused(store, "search_messages", ErrorCode.VALIDATION_ERROR, query="invoice", chat="15551234567@c.us")


@pytest.mark.django_db
def test_an_empty_result_is_a_success_naming_the_scope(store: Device) -> None:
    outcome = ok(store, "search_messages", query="giraffe", chat="Bob")
    assert "Hits: 0" in outcome.text
    assert f"No messages match 'giraffe' in Bob ({OTHER})." in outcome.text
    assert outcome.data["hits"] == []
    assert "No messages match 'giraffe'." in ok(store, "search_messages", query="giraffe").text


@pytest.mark.django_db
def test_pages_with_a_more_hint(store: Device) -> None:
    first = ok(store, "search_messages", query="invoice", limit=3)
    assert ids_in(first.text) == ["B3", "B1", "A2"]
    assert "More: more hits exist; call search_messages with page 1." in first.text
    assert (first.data["has_more"], first.data["next_page"], first.data["total"]) == (True, 1, 4)
    second = ok(store, "search_messages", query="invoice", limit=3, page=1)
    assert ids_in(second.text) == ["A1"]
    assert "More:" not in second.text


@pytest.mark.django_db
def test_the_whitelist_drops_chats_before_paging(store: Device) -> None:
    Device.objects.filter(pk=store.pk).update(allowed_contacts="+15551234567")
    outcome = ok(store, "search_messages", query="invoice", limit=2)
    assert ids_in(outcome.text) == ["A2", "A1"], "a full page of allowed hits (LID twin included)"
    assert outcome.data["total"] == 2
    assert outcome.data["has_more"] is False
    refused(store, "search_messages", ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, query="invoice", chat="Bob")


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "expected"), [
    ('"pay the invoice"', ["A2"]),
    ("invoi*", ["B3", "B1", "A2", "A1"]),
    ("invoice NOT march", ["B3", "A2", "A1"]),
    ("march OR attached", ["B1", "A1"]),
    ("invoice?", ["B3", "B1", "A2", "A1"]),
    ('"unbalanced invoice', []),
])
def test_search_syntax(store: Device, query: str, expected: list[str]) -> None:
    assert ids_in(ok(store, "search_messages", query=query).text) == expected


@pytest.mark.django_db
def test_bodies_are_clipped_and_media_marked() -> None:
    device = make_device()
    chat = make_chat(device, PHONE, name="Alice")
    message(device, chat, "IMG", 1, "scan of the invoice", type="image", media_file_name="scan.jpg")
    message(device, chat, "LONG", 2, "invoice " + "x" * 300)
    outcome = ok(device, "search_messages", query="invoice")
    assert "Text: [image: scan.jpg] scan of the invoice" in outcome.text
    long_line = next(line for line in outcome.text.splitlines() if line.startswith("Text: invoice xxx"))
    assert len(long_line) == len("Text: ") + 150


@pytest.mark.django_db
def test_context_shows_one_neighbour_each_side(store: Device) -> None:
    outcome = ok(store, "search_messages", query="march", include_context=True)
    assert ids_in(outcome.text) == ["B1", "B2"], "neighbours come from the same chat only"
    assert re.search(r">> Chat: Bob [^\n]*Message ID: B1", outcome.text)
    hit = outcome.data["hits"][0]
    assert [m["id"] for m in hit["context"]["before"]] == []
    assert [m["id"] for m in hit["context"]["after"]] == ["B2"]


@pytest.mark.django_db
def test_context_reads_the_twins_too(store: Device) -> None:
    outcome = ok(store, "search_messages", query="attached", include_context=True)
    assert ids_in(outcome.text) == ["A1", "A2"]


@pytest.mark.django_db
def test_a_query_over_200_characters_is_too_long(store: Device) -> None:
    outcome = refused(store, "search_messages", ErrorCode.SEARCH_QUERY_TOO_LONG, query="a" * 201)
    assert (outcome.details["max"], outcome.details["length"]) == (200, 201)
    ok(store, "search_messages", query="a" * 200)


@pytest.mark.django_db
@pytest.mark.parametrize(("arguments", "field"), [
    ({"query": ""}, "query"), ({"query": "   "}, "query"), ({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
    ({"page": -1}, "page"), ({"chat": "x" * 201}, "chat"),
])
def test_bad_arguments(store: Device, arguments: dict, field: str) -> None:
    arguments = {"query": "invoice", **arguments}
    outcome = refused(store, "search_messages", ErrorCode.VALIDATION_ERROR, **arguments)
    assert outcome.details["field"] == field


@pytest.mark.django_db
def test_a_broken_index_is_reported(store: Device, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise WhatsAppError(ErrorCode.SEARCH_FTS_UNAVAILABLE)

    monkeypatch.setattr(service, "search_messages", broken)
    refused(store, "search_messages", ErrorCode.SEARCH_FTS_UNAVAILABLE, query="invoice")


@pytest.mark.django_db
def test_a_disabled_search_is_refused(store: Device) -> None:
    Device.objects.filter(pk=store.pk).update(disabled_tools="search_messages,list_chats")
    refused(store, "search_messages", ErrorCode.PERMISSION_TOOL_DISABLED, query="invoice")
