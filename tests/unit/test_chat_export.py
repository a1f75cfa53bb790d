"""Chat export (JSON or CSV) of a chat and its twins, oldest first, capped, spreadsheet-safe, and the
REST endpoint that hands out the whole file."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_app_with_token, make_chat, make_contact, make_device, make_message
from tests.unit.api.conftest import ApiClient, assert_refused
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Device
from whatsapp.services.export import csv_cell, export_chat

ALICE = "15145550101@s.whatsapp.net"
ALICE_LID = "118207457280017@lid"

pytestmark = pytest.mark.django_db


@pytest.fixture
def device():
    return make_device()


def conversation(device) -> None:
    """Alice writes from her phone JID and her LID; we answer; one image."""
    contact = make_contact(device, phone_jid=ALICE, lid=ALICE_LID)
    phone_chat = make_chat(device, ALICE, contact=contact, name="Alice")
    lid_chat = make_chat(device, ALICE_LID, contact=contact)
    start = timezone.now() - timedelta(hours=1)
    make_message(device, phone_chat, wa_id="A1", body="=HYPERLINK(\"evil\")", sender_jid=ALICE,
                 sender_name="Alice", timestamp=start)
    make_message(device, lid_chat, wa_id="A2", body='she said "hi"', sender_jid=ALICE_LID, sender_name="Alice",
                 timestamp=start + timedelta(minutes=1))
    make_message(device, phone_chat, wa_id="B1", body="-1 point", direction="out", from_me=True,
                 timestamp=start + timedelta(minutes=2))
    make_message(device, phone_chat, wa_id="A3", type="image", body="", sender_jid=ALICE,
                 timestamp=start + timedelta(minutes=3))


def test_json_export_holds_the_chat_and_its_twin_oldest_first(device) -> None:
    conversation(device)
    result = export_chat(device, "+15145550101")
    body = json.loads(result.content)
    assert (body["format"], body["jid"], body["chatName"], body["isGroup"], body["messageCount"]) == (
        "json", ALICE, "Alice", False, 4)
    assert [m["id"] for m in body["messages"]] == ["A1", "A2", "B1", "A3"]
    assert body["messages"][1] == {"id": "A2", "timestamp": body["messages"][1]["timestamp"],
                                   "sender": {"jid": ALICE_LID, "name": "Alice"}, "body": 'she said "hi"',
                                   "isFromMe": False, "hasMedia": False, "mediaType": ""}
    assert body["messages"][3]["hasMedia"] is True
    assert body["messages"][3]["mediaType"] == "image"
    assert body["messages"][0]["timestamp"].endswith("Z")
    assert (result.mime_type, result.file_name.endswith(".json")) == ("application/json", True)


def test_csv_export_is_quoted_once_headed_and_formula_safe(device) -> None:
    conversation(device)
    result = export_chat(device, ALICE_LID, "csv")
    lines = result.content.splitlines()
    assert lines[0] == '"id","timestamp","sender_jid","sender_name","body","from_me","has_media","media_type"'
    rows = list(csv.DictReader(io.StringIO(result.content)))
    assert [r["id"] for r in rows] == ["A1", "A2", "B1", "A3"]
    assert rows[0]["body"] == "'=HYPERLINK(\"evil\")"
    assert rows[1]["body"] == 'she said "hi"'
    assert '"she said ""hi"""' in lines[2]
    assert rows[2]["body"] == "'-1 point"
    assert rows[2]["from_me"] == "1"
    assert (rows[3]["has_media"], rows[3]["media_type"]) == ("1", "image")
    assert all(line.startswith('"') and line.endswith('"') for line in lines)


@pytest.mark.parametrize(("value", "cell"), [("=1+1", "'=1+1"), ("+33 6", "'+33 6"), ("@cmd", "'@cmd"),
                                             ("\tx", "'\tx"), ("\rx", "'\rx"), ("ok", "ok"), (True, "1"),
                                             (False, "0"), (None, "")])
def test_csv_cells(value, cell: str) -> None:
    assert csv_cell(value) == cell


def test_only_the_most_recent_messages_up_to_the_cap(device) -> None:
    conversation(device)
    body = json.loads(export_chat(device, ALICE, limit=2).content)
    assert [m["id"] for m in body["messages"]] == ["B1", "A3"]


def test_unknown_chat_bad_format_and_whitelist(device) -> None:
    conversation(device)
    for args, code in (((device, "+15145550199"), ErrorCode.NOT_FOUND),
                       ((device, ALICE, "xml"), ErrorCode.VALIDATION_ERROR)):
        with pytest.raises(WhatsAppError) as caught:
            export_chat(*args)
        assert caught.value.code is code
    Device.objects.filter(pk=device.pk).update(allowed_contacts="15145550102")
    device.refresh_from_db()
    with pytest.raises(WhatsAppError) as caught:
        export_chat(device, ALICE)
    assert caught.value.code is ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED


def test_the_rest_endpoint_hands_out_the_whole_file() -> None:
    app, token = make_app_with_token()
    device = make_device(app)
    conversation(device)
    api = ApiClient(token)
    response = api.get(f"/devices/{device.pk}/chats/{ALICE}/export", format="csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=\"chat-15145550101-")
    assert response["X-Message-Count"] == "4"
    assert len(list(csv.DictReader(io.StringIO(response.content.decode())))) == 4
    as_json = api.get(f"/devices/{device.pk}/chats/{ALICE}/export")
    assert json.loads(as_json.content)["messageCount"] == 4
    assert_refused(api.get(f"/devices/{device.pk}/chats/15145550199@s.whatsapp.net/export"), 404, "not_found")
    assert_refused(api.get(f"/devices/{device.pk}/chats/{ALICE}/export", format="xml"), 400, "validation_error")
