"""export_chat_data over MCP (reference/mcp-tools.md §2.11): the FULL export of a chat and its twins reaches
the caller as an embedded resource (the original printed only a preview and repeated the CSV header), with
a labelled summary and a preview of the first 5 rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import mcp_types as types
import pytest

import whatsapp.mcp.tools  # noqa: F401  (registers the tools: dispatch looks names up before importing them)
from tests.factories import make_chat, make_contact, make_device, make_message
from tests.support.mcp import Outcome, ok, refused
from whatsapp.errors import ErrorCode
from whatsapp.models import Chat, Device, Direction, Message

PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
OWN = "15550001111@s.whatsapp.net"
GROUP = "120363041234567890@g.us"
BASE = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def defaults(settings):
    settings.ALLOWED_CONTACTS = []
    settings.DISABLED_TOOLS = []
    settings.TIME_ZONE = "UTC"


def message(device: Device, chat: Chat, wa_id: str, minutes: int, body: str = "", **fields) -> Message:
    fields.setdefault("sender_jid", chat.jid)
    return make_message(device, chat, wa_id, body=body or f"text {wa_id}", timestamp=BASE + timedelta(minutes=minutes),
                        **fields)


def resource(outcome: Outcome) -> dict:
    [block] = [b for b in outcome.raw["content"] if b["type"] == "resource"]
    return block["resource"]


def chat_with(device: Device, count: int, jid: str = PHONE, **chat_fields) -> Chat:
    chat = make_chat(device, jid, **chat_fields)
    for n in range(1, count + 1):
        message(device, chat, f"M{n:02d}", n)
    return chat


@pytest.mark.django_db
def test_json_delivers_every_message_as_an_embedded_resource() -> None:
    device = make_device()
    chat_with(device, 30, name="Alice")
    outcome = ok(device, "export_chat_data", jid=PHONE)
    res = resource(outcome)
    uri = f"whatsapp-export://{device.pk}/{PHONE}.json"
    assert (res["uri"], res["mimeType"]) == (uri, "application/json")
    export = json.loads(res["text"])
    assert export["messageCount"] == 30
    assert [m["id"] for m in export["messages"]] == [f"M{n:02d}" for n in range(1, 31)], "all of them, oldest first"
    assert export["messages"][0]["sender"]["jid"] == PHONE
    text = outcome.text
    assert "Chat: Alice" in text
    assert f"JID: {PHONE}" in text
    assert "Messages: 30" in text
    assert "Format: json" in text
    assert "Exported at: " in text
    assert f"Full export: attached as embedded resource {uri}" in text
    assert "Preview (first 5 of 30):" in text
    assert '"id": "M05"' in text
    assert "M06" not in text, "the text holds only the preview"
    assert outcome.data["message_count"] == 30
    assert outcome.data["resource_uri"] == uri
    assert [row["id"] for row in outcome.data["preview"]] == ["M01", "M02", "M03", "M04", "M05"]
    types.CallToolResult.model_validate(outcome.raw)  # a valid MCP result, resource block included


@pytest.mark.django_db
def test_csv_has_one_header_every_row_quoted_cells_and_a_formula_guard() -> None:
    device = make_device()
    chat = chat_with(device, 12, name="Alice")
    message(device, chat, "F1", 20, "=HYPERLINK(\"http://evil\")")
    message(device, chat, "F2", 21, "+1 555", type="image")
    make_message(device, chat, "OWN1", direction=Direction.OUTBOUND, from_me=True, sender_jid=OWN,
                 body='she said "hi"', timestamp=BASE + timedelta(minutes=22))
    outcome = ok(device, "export_chat_data", jid="+1 (555) 123-4567", format="csv")
    res = resource(outcome)
    assert (res["uri"], res["mimeType"]) == (f"whatsapp-export://{device.pk}/{PHONE}.csv", "text/csv")
    content = res["text"]
    header = '"id","timestamp","sender_jid","sender_name","body","from_me","has_media","media_type"'
    assert content.count(header) == 1
    assert content.startswith(header + "\r\n")
    rows = list(csv.reader(io.StringIO(content)))
    assert len(rows) == 1 + 15
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id["F1"][4] == "'=HYPERLINK(\"http://evil\")"
    assert by_id["F2"][4:] == ["'+1 555", "0", "1", "image"]
    assert by_id["OWN1"][4:6] == ['she said "hi"', "1"]
    assert '"she said ""hi"""' in content
    assert all(line.startswith('"') for line in content.strip().split("\r\n"))
    assert "Format: csv" in outcome.text
    assert "Messages: 15" in outcome.text
    preview = outcome.text.split("Preview (first 5 of 15):\n", 1)[1]
    assert preview.splitlines()[0] == header
    assert len(preview.splitlines()) == 6


@pytest.mark.django_db
def test_twins_are_exported_together_under_the_custom_name() -> None:
    device = make_device()
    contact = make_contact(device, phone_jid=PHONE, lid=LID, push_name="ally", custom_name="Alice Cooper")
    phone_chat = make_chat(device, PHONE, name="ally", contact=contact)
    lid_chat = make_chat(device, LID, contact=contact)
    message(device, phone_chat, "P1", 1)
    message(device, lid_chat, "L1", 2)
    message(device, phone_chat, "P2", 3)
    for jid in (PHONE, LID, "+15551234567"):
        outcome = ok(device, "export_chat_data", jid=jid)
        assert [m["id"] for m in json.loads(resource(outcome)["text"])["messages"]] == ["P1", "L1", "P2"], jid
        assert "Chat: Alice Cooper" in outcome.text


@pytest.mark.django_db
def test_a_chat_known_only_by_its_lid_twin_is_found_by_phone() -> None:
    device = make_device()
    contact = make_contact(device, phone_jid=PHONE, lid=LID)
    chat = make_chat(device, LID, name="Alice", contact=contact)
    message(device, chat, "L1", 1)
    outcome = ok(device, "export_chat_data", jid=PHONE)
    assert outcome.data["jid"] == LID
    assert outcome.data["message_count"] == 1


@pytest.mark.django_db
def test_a_group_export() -> None:
    device = make_device()
    group = make_chat(device, GROUP, name="Family")
    message(device, group, "G1", 1, sender_jid="15145550102@s.whatsapp.net", sender_name="Joe")
    outcome = ok(device, "export_chat_data", jid=GROUP)
    export = json.loads(resource(outcome)["text"])
    assert export["isGroup"] is True
    assert "Chat: Family" in outcome.text
    assert "Group: yes" in outcome.text


@pytest.mark.django_db
def test_an_empty_chat_exports_nothing_successfully() -> None:
    device = make_device()
    make_chat(device, PHONE, name="Alice")
    outcome = ok(device, "export_chat_data", jid=PHONE, format="csv")
    assert "Messages: 0" in outcome.text
    assert resource(outcome)["text"].count("\r\n") == 1  # the header alone


@pytest.mark.django_db
def test_an_unknown_chat_is_not_found() -> None:
    device = make_device()
    outcome = refused(device, "export_chat_data", ErrorCode.NOT_FOUND, jid="+1 555 000 1111")
    assert outcome.details["jid"] == "15550001111@s.whatsapp.net"


@pytest.mark.django_db
@pytest.mark.parametrize(("arguments", "field"), [
    ({"jid": "Alice"}, "jid"), ({"jid": "15551234567@c.us"}, "jid"), ({"jid": ""}, "jid"),
    ({"jid": PHONE, "format": "xml"}, "format"), ({"jid": PHONE, "format": "CSV"}, "format"),
    ({"jid": "x" * 201}, "jid"), ({}, "jid"),
])
def test_bad_arguments(arguments: dict, field: str) -> None:
    device = make_device()
    make_chat(device, PHONE, name="Alice")
    outcome = refused(device, "export_chat_data", ErrorCode.VALIDATION_ERROR, **arguments)
    assert outcome.details["field"] == field


@pytest.mark.django_db
def test_a_chat_outside_the_whitelist_is_refused() -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(allowed_contacts="+15559990000")
    chat_with(device, 2, name="Alice")
    outcome = refused(device, "export_chat_data", ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, jid=PHONE)
    assert PHONE in outcome.text
    refused(device, "export_chat_data", ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, jid="+15550001111")


@pytest.mark.django_db
def test_a_disabled_export_is_refused() -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(disabled_tools="export_chat_data")
    refused(device, "export_chat_data", ErrorCode.PERMISSION_TOOL_DISABLED, jid=PHONE)
