"""POST /devices/{device_id}/messages: every message type, media from base64 and from a URL, the
wait for WhatsApp's ack (200 sent / 202 queued / Prefer: respond-async), WhatsApp's refusals, and
Idempotency-Key replays — with every documented error code."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone

from media.models import MediaFile
from tests.factories import RunnerSide, connected_device, make_chat, make_device, make_message
from tests.unit.api.conftest import assert_refused, error_of
from whatsapp.errors import ErrorCode
from whatsapp.models import CommandKind, CommandState, DeliveryStatus, DeviceCommand, Direction, Message
from whatsapp.models.idempotency import IdempotencyKey
from whatsapp.services.ingest import record_outbound

PHONE = "15551234567@s.whatsapp.net"
GROUP = "120363041234567890@g.us"
BASE_FIELDS = {"message_id", "chat_jid", "is_group", "direction", "is_from_me", "sender_jid", "sender_phone_jid",
               "sender_lid", "push_name", "type", "text", "caption", "quoted_message_id", "status", "timestamp",
               "from_history", "to"}
MEDIA_FIELDS = {"mime_type", "file_name", "file_size", "sha256", "ptt", "media_path"}


# --- samples (real files, so the intake's sniffing sees what a client would send) -------------------


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def webp() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGBA", (16, 16), (200, 10, 10, 128)).save(buffer, "WEBP")
    return buffer.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


MP4 = _box(b"ftyp", b"isom\0\0\0\0isomiso2mp41") + _box(b"free", b"") + _box(b"mdat", b"\0" * 64)
_OPUS_HEAD = b"OpusHead" + bytes([1, 1]) + struct.pack("<HI", 312, 48000) + b"\0\0\0"
OPUS = (b"OggS" + bytes([0, 2]) + b"\0" * 8 + struct.pack("<II", 1, 0) + b"\0\0\0\0" + bytes([1, len(_OPUS_HEAD)])
        + _OPUS_HEAD)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = png()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_wait(settings, tmp_path: Path) -> None:
    """Media under a temporary root; no wait for an ack unless a test plays the runner."""
    settings.MEDIA_ROOT = tmp_path
    settings.SEND_WAIT_SECONDS = 0


@pytest.fixture
def device(app):
    return connected_device(app)


def path_of(device) -> str:
    return f"/devices/{device.pk}/messages"


def sent(api, device, body: dict, status: int = 202, **kwargs) -> dict:
    response = api.post(path_of(device), body, **kwargs)
    assert response.status_code == status, response.content
    return response.json()["data"]


def refused(api, device, body: dict, status: int, code: str, field: str | None = None, **kwargs) -> dict:
    return assert_refused(api.post(path_of(device), body, **kwargs), status, code, field)


def nothing_sent() -> None:
    assert not Message.objects.exists()
    assert not DeviceCommand.objects.exists()


def delivers(device, acked_at=None):
    """A runner side that WhatsApp accepts every send of (as ``runtime.sending`` records it)."""

    def answer(command: DeviceCommand) -> None:
        assert command.kind == CommandKind.SEND
        record_outbound(device, command.message, status=DeliveryStatus.SENT, timestamp=acked_at or timezone.now())
        command.succeed({"message_id": command.message.wa_id, "status": "sent"})

    return RunnerSide(device.pk, answer)


def refuses(device, code: ErrorCode):
    def answer(command: DeviceCommand) -> None:
        record_outbound(device, command.message, status=DeliveryStatus.FAILED, error_code=code.code)
        command.fail(code)

    return RunnerSide(device.pk, answer)


# --- each type -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_text_is_queued_in_the_outbox_and_shown_as_wa_server_does(api, device) -> None:
    data = sent(api, device, {"to": "+1 555 123 4567", "type": "text", "text": "hello"})
    assert set(data) == BASE_FIELDS
    assert (data["to"], data["chat_jid"], data["status"], data["type"]) == (PHONE, PHONE, "queued", "text")
    assert (data["text"], data["caption"], data["direction"], data["is_from_me"]) == ("hello", None, "out", True)
    assert data["sender_jid"] == data["sender_phone_jid"] == device.phone_jid  # our own number, like inbound
    assert data["timestamp"].endswith("Z")
    message = Message.objects.get(wa_id=data["message_id"])
    assert (message.device, message.body, message.status) == (device, "hello", DeliveryStatus.QUEUED)
    command = DeviceCommand.objects.get(message=message)
    assert (command.kind, command.state) == (CommandKind.SEND, CommandState.PENDING)


@pytest.mark.django_db
def test_the_type_defaults_to_text(api, device) -> None:
    assert sent(api, device, {"to": PHONE, "text": "hi"})["type"] == "text"


@pytest.mark.django_db
def test_an_image_from_base64_is_sniffed_stored_and_captioned(api, device, settings) -> None:
    data = sent(api, device, {"to": PHONE, "type": "image", "data_base64": b64(PNG), "caption": "a red square"})
    assert set(data) == BASE_FIELDS | MEDIA_FIELDS
    assert (data["type"], data["caption"], data["text"], data["mime_type"]) == ("image", "a red square", None,
                                                                                 "image/png")
    assert (data["file_size"], data["sha256"]) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    media = MediaFile.objects.get(message__wa_id=data["message_id"])
    assert data["media_path"] == media.path
    assert media.path.endswith(".png")
    assert (Path(settings.MEDIA_ROOT) / media.path).read_bytes() == PNG


@pytest.mark.django_db
def test_a_data_uri_and_text_as_the_caption_are_accepted(api, device) -> None:
    data = sent(api, device, {"to": PHONE, "type": "image", "data_base64": f"data:image/png;base64,{b64(PNG)}",
                              "text": "caption in text"})
    assert (data["mime_type"], data["caption"]) == ("image/png", "caption in text")


@pytest.mark.django_db
@pytest.mark.parametrize(("extra", "content", "mime"), [
    ({"type": "video", "mime_type": "video/mp4", "caption": "clip"}, MP4, "video/mp4"),
    ({"type": "audio", "mime_type": "audio/ogg; codecs=opus", "ptt": True}, OPUS, "audio/ogg"),
    ({"type": "document", "file_name": "report.pdf", "caption": "Q3"}, PDF, "application/pdf"),
    ({"type": "sticker"}, webp(), "image/webp"),
])
def test_every_media_kind(api, device, extra: dict, content: bytes, mime: str) -> None:
    data = sent(api, device, {"to": PHONE, "data_base64": b64(content), **extra})
    message = Message.objects.get(wa_id=data["message_id"])
    assert (data["type"], data["mime_type"], message.media_mime_type) == (extra["type"], mime, mime)
    assert data["ptt"] is bool(extra.get("ptt"))
    assert data["file_name"] == extra.get("file_name")
    assert data["caption"] == extra.get("caption")


@pytest.mark.django_db
def test_a_contact_card(api, device) -> None:
    vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Ann\nTEL:+15551234568\nEND:VCARD"
    data = sent(api, device, {"to": PHONE, "type": "contact", "contact_name": "Ann", "vcard": vcard})
    assert (data["type"], data["name"], data["vcard"]) == ("contact", "Ann", vcard)
    assert set(data) == BASE_FIELDS | {"name", "vcard"}


@pytest.mark.django_db
def test_a_location(api, device) -> None:
    data = sent(api, device, {"to": PHONE, "type": "location", "latitude": 52.52, "longitude": 13.405,
                              "address": "Berlin"})
    assert (data["latitude"], data["longitude"], data["address"]) == (52.52, 13.405, "Berlin")
    assert set(data) == BASE_FIELDS | {"latitude", "longitude", "address"}


@pytest.mark.django_db
def test_a_poll_takes_text_as_its_question(api, device) -> None:
    data = sent(api, device, {"to": GROUP, "type": "poll", "text": "Lunch?", "options": ["Pizza", "Sushi"]})
    assert (data["name"], data["options"], data["selectable_count"], data["is_group"]) == (
        "Lunch?", ["Pizza", "Sushi"], 1, True)
    assert (data["text"], data["caption"]) == ("Lunch?", None)
    assert Message.objects.get(wa_id=data["message_id"]).content["options"] == ["Pizza", "Sushi"]


@pytest.mark.django_db
def test_a_reply_names_the_quoted_message(api, device) -> None:
    quoted = make_message(device, make_chat(device, PHONE), "3EB0QUOTEDQUOTED000001", body="question")
    data = sent(api, device, {"to": PHONE, "text": "answer", "quoted_message_id": quoted.wa_id})
    assert data["quoted_message_id"] == quoted.wa_id
    assert Message.objects.get(wa_id=data["message_id"]).quoted_wa_id == quoted.wa_id


# --- media from a URL ------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[str]:
    """A local HTTP server serving the PNG at /cat.png and a 404 elsewhere."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/cat.png":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.django_db
def test_media_from_a_url(api, device, server, settings) -> None:
    settings.ALLOW_PRIVATE_URLS = True
    data = sent(api, device, {"to": PHONE, "type": "image", "url": f"{server}/cat.png"})
    assert (data["mime_type"], data["file_size"]) == ("image/png", len(PNG))


@pytest.mark.django_db
def test_a_url_that_fails_is_media_fetch_failed(api, device, server, settings) -> None:
    settings.ALLOW_PRIVATE_URLS = True
    refused(api, device, {"to": PHONE, "type": "image", "url": f"{server}/missing.png"}, 502, "media_fetch_failed",
            "url")
    nothing_sent()


@pytest.mark.django_db
def test_a_private_url_is_forbidden(api, device, server, settings) -> None:
    settings.ALLOW_PRIVATE_URLS = False
    refused(api, device, {"to": PHONE, "type": "image", "url": f"{server}/cat.png"}, 400, "media_url_forbidden",
            "url")
    nothing_sent()


# --- bad input ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ({"to": PHONE, "type": "image"}, "data_base64"),
    ({"to": PHONE, "type": "image", "url": "https://example.com/a.png", "data_base64": "AAAA"}, "url"),
    ({"to": PHONE, "type": "image", "data_base64": "not base64!"}, "data_base64"),
    ({"to": PHONE, "type": "image", "data_base64": b64(PNG), "mime_type": "image/gif"}, "mime_type"),
    ({"to": PHONE, "type": "sticker", "data_base64": b64(PNG)}, "mime_type"),
    ({"to": PHONE, "type": "image", "data_base64": b64(PNG), "caption": "a", "text": "b"}, "text"),
    ({"to": PHONE, "text": "hi", "caption": "no"}, "caption"),
    ({"to": PHONE, "text": "hi", "url": "https://example.com/a.png"}, "url"),
    ({"to": PHONE, "type": "sticker", "data_base64": b64(webp()), "caption": "no"}, "caption"),
    ({"to": PHONE, "type": "image", "data_base64": b64(PNG), "ptt": True}, "ptt"),
    ({"to": PHONE, "type": "location", "latitude": 1.0}, "longitude"),
    ({"to": PHONE, "type": "location", "latitude": 91.0, "longitude": 1.0}, "latitude"),
    ({"to": PHONE, "type": "contact", "vcard": "BEGIN:VCARD\nEND:VCARD"}, "contact_name"),
    ({"to": PHONE, "type": "contact", "contact_name": "Ann"}, "vcard"),
    ({"to": PHONE, "type": "poll", "options": ["a", "b"]}, "text"),
    ({"to": PHONE, "type": "poll", "text": "q?"}, "options"),
    ({"to": PHONE, "type": "poll", "text": "q?", "options": ["a"]}, "options"),
    ({"to": PHONE, "type": "poll", "text": "q?", "options": ["a", "a "]}, "options"),
    ({"to": PHONE, "type": "poll", "text": "q?", "options": [str(n) for n in range(13)]}, "options"),
    ({"to": PHONE, "text": ""}, "text"),
    ({"to": "not a number", "text": "hi"}, "to"),
    ({"text": "hi"}, "to"),
    ({"to": PHONE, "type": "buttons", "text": "hi"}, "type"),
    ({"to": PHONE, "text": "hi", "colour": "red"}, "colour"),
    ({"to": PHONE, "text": "nul \u0000 inside"}, "text"),  # PostgreSQL text cannot hold it
    ({"to": PHONE, "type": "poll", "text": "q?", "options": ["a", "b\u0000"]}, "options"),
])
def test_bad_input_is_a_validation_error_naming_the_field(api, device, body: dict, field: str) -> None:
    refused(api, device, body, 400, "validation_error", field)
    nothing_sent()


@pytest.mark.django_db
def test_content_contradicting_the_declared_type_is_a_mismatch(api, device) -> None:
    refused(api, device, {"to": PHONE, "type": "image", "data_base64": b64(PDF), "mime_type": "image/png"}, 400,
            "media_magic_mismatch", "mime_type")
    nothing_sent()


@pytest.mark.django_db
def test_an_executable_file_name_is_refused(api, device) -> None:
    refused(api, device, {"to": PHONE, "type": "document", "data_base64": b64(PDF), "file_name": "invoice.exe"},
            403, "media_dangerous_extension", "file_name")
    nothing_sent()


@pytest.mark.django_db
def test_oversize_media_is_too_large(api, device, settings) -> None:
    settings.MEDIA_MAX_BYTES = len(PNG) - 1
    error = refused(api, device, {"to": PHONE, "type": "image", "data_base64": b64(PNG)}, 413, "media_too_large",
                    "data_base64")
    assert error["details"]["max_bytes"] == len(PNG) - 1
    nothing_sent()


@pytest.mark.django_db
def test_a_long_text_is_message_too_long(api, device) -> None:
    refused(api, device, {"to": PHONE, "text": "x" * 4097}, 413, "message_too_long", "text")
    nothing_sent()


# --- the device ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_device_that_is_not_connected(api, app) -> None:
    refused(api, make_device(app), {"to": PHONE, "text": "hi"}, 409, "device_not_connected")
    nothing_sent()


@pytest.mark.django_db
def test_a_destroyed_device(api, device) -> None:
    device.destroy()
    refused(api, device, {"to": PHONE, "text": "hi"}, 410, "device_destroyed")
    nothing_sent()


@pytest.mark.django_db
def test_an_unknown_device(api) -> None:
    response = api.post(f"/devices/{uuid.uuid4()}/messages", {"to": PHONE, "text": "hi"})
    assert (response.status_code, error_of(response)) == (404, "not_found")


# --- waiting for WhatsApp ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_ack_within_the_wait_is_200_sent(api, device, settings) -> None:
    settings.SEND_WAIT_SECONDS = 5
    acked_at = timezone.now().replace(microsecond=0)
    with delivers(device, acked_at):
        data = sent(api, device, {"to": PHONE, "text": "hello"}, status=200)
    assert data["status"] == "sent"
    assert Message.objects.get(wa_id=data["message_id"]).sent_at == acked_at


@pytest.mark.django_db
def test_when_the_wait_runs_out_it_is_202_queued(api, device, settings) -> None:
    settings.SEND_WAIT_SECONDS = 0.2
    data = sent(api, device, {"to": PHONE, "text": "hello"}, status=202)
    assert data["status"] == "queued"


@pytest.mark.django_db
@pytest.mark.parametrize("prefer", ["respond-async", "Respond-Async, wait=30", "handling=lenient,respond-async"])
def test_prefer_respond_async_answers_at_once(api, device, settings, prefer: str) -> None:
    settings.SEND_WAIT_SECONDS = 60  # would hang the test if it were waited for
    response = api.post(path_of(device), {"to": PHONE, "text": "hello"}, headers={"Prefer": prefer})
    assert response.status_code == 202
    assert response["Preference-Applied"] == "respond-async"
    message = Message.objects.get(wa_id=response.json()["data"]["message_id"])
    assert message.status == DeliveryStatus.QUEUED
    assert DeviceCommand.objects.get(message=message).state == CommandState.PENDING


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("code", "status"), [
    (ErrorCode.GROUP_POSTING_RESTRICTED, 403), (ErrorCode.PROVIDER_RATE_LIMITED, 429),
    (ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, 404), (ErrorCode.MESSAGE_SEND_FAILED, 500),
])
def test_a_refusal_by_whatsapp_names_the_message(api, device, settings, code: ErrorCode, status: int) -> None:
    settings.SEND_WAIT_SECONDS = 5
    with refuses(device, code):
        error = refused(api, device, {"to": GROUP, "text": "hello"}, status, code.api_code)
    message = Message.objects.get(wa_id=error["details"]["message_id"])
    assert (message.status, message.error_code) == (DeliveryStatus.FAILED, code.code)


# --- Idempotency-Key -----------------------------------------------------------------------------------


def keyed(key: str) -> dict:
    return {"headers": {"Idempotency-Key": key}}


@pytest.mark.django_db
def test_the_same_key_and_body_replays_the_first_answer(api, device) -> None:
    first = api.post(path_of(device), {"to": PHONE, "text": "once"}, **keyed("order-42"))
    again = api.post(path_of(device), {"text": "once", "type": "text", "to": PHONE}, **keyed("order-42"))
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Message.objects.count() == 1
    assert DeviceCommand.objects.count() == 1
    row = IdempotencyKey.objects.get(key="order-42")
    assert (row.message.wa_id, row.response_status) == (first.json()["data"]["message_id"], 202)


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused(api, device, app) -> None:
    sent(api, device, {"to": PHONE, "text": "once"}, **keyed("k1"))
    error = refused(api, device, {"to": PHONE, "text": "twice"}, 409, "idempotency_key_reused", **keyed("k1"))
    assert error["details"]["reason"] == "idempotency_key_reuse"
    other_device = connected_device(app)
    refused(api, other_device, {"to": PHONE, "text": "once"}, 409, "idempotency_key_reused", **keyed("k1"))
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_app(api, device) -> None:
    from tests.factories import make_app_with_token
    from tests.unit.api.conftest import ApiClient

    other_app, token = make_app_with_token()
    sent(api, device, {"to": PHONE, "text": "once"}, **keyed("shared"))
    sent(ApiClient(token), connected_device(other_app), {"to": PHONE, "text": "once"}, **keyed("shared"))
    assert Message.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "naïve"])
def test_a_bad_key_is_a_validation_error(api, device, key: str) -> None:
    refused(api, device, {"to": PHONE, "text": "hi"}, 400, "validation_error", "Idempotency-Key", **keyed(key))
    nothing_sent()


@pytest.mark.django_db
def test_a_refusal_before_acceptance_leaves_the_key_free(api, app) -> None:
    device = make_device(app)
    refused(api, device, {"to": PHONE, "text": "hi"}, 409, "device_not_connected", **keyed("k2"))
    assert not IdempotencyKey.objects.exists()
    device.mark_connected("15550001111@s.whatsapp.net")
    sent(api, device, {"to": PHONE, "text": "hi"}, **keyed("k2"))


@pytest.mark.django_db(transaction=True)
def test_a_refusal_after_acceptance_is_replayed(api, device, settings) -> None:
    settings.SEND_WAIT_SECONDS = 5
    with refuses(device, ErrorCode.GROUP_POSTING_RESTRICTED):
        first = api.post(path_of(device), {"to": GROUP, "text": "hi"}, **keyed("k3"))
    again = api.post(path_of(device), {"to": GROUP, "text": "hi"}, **keyed("k3"))
    assert (first.status_code, again.status_code) == (403, 403)
    assert error_of(again) == "group_posting_restricted"
    assert again.json()["error"] == first.json()["error"]
    assert again.json()["request_id"] != first.json()["request_id"]
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_sent_answer_is_replayed_as_200(api, device, settings) -> None:
    settings.SEND_WAIT_SECONDS = 5
    with delivers(device):
        first = api.post(path_of(device), {"to": PHONE, "text": "hi"}, **keyed("k4"))
    again = api.post(path_of(device), {"to": PHONE, "text": "hi"}, **keyed("k4"))
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()


def _accepted_without_answer(app, device, key: str, body: dict, **fields) -> Message:
    """What a first request leaves when it is still waiting for the ack (or died before answering)."""
    from whatsapp.api.message_schemas import SendMessage
    from whatsapp.api.sends import fingerprint_of

    message = make_message(device, make_chat(device, PHONE), direction=Direction.OUTBOUND, from_me=True,
                           body=body["text"], **fields)
    IdempotencyKey.objects.create(app=app, key=key, device=device, message=message,
                                  fingerprint=fingerprint_of(device, SendMessage(**body)))
    return message


@pytest.mark.django_db
def test_a_key_without_a_remembered_answer_answers_from_the_message(api, app, device) -> None:
    body = {"to": PHONE, "text": "hi"}
    message = _accepted_without_answer(app, device, "k5", body, status=DeliveryStatus.QUEUED)
    data = sent(api, device, body, status=202, **keyed("k5"))
    assert (data["message_id"], data["status"]) == (message.wa_id, "queued")
    Message.objects.filter(pk=message.pk).update(status=DeliveryStatus.SENT)
    assert sent(api, device, body, status=200, **keyed("k5"))["status"] == "sent"
    Message.objects.filter(pk=message.pk).update(status=DeliveryStatus.FAILED, error_code="PROVIDER_RATE_LIMITED")
    error = refused(api, device, body, 429, "provider_rate_limit", **keyed("k5"))
    assert error["details"]["message_id"] == message.wa_id
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_an_expired_key_can_be_used_again(api, app, device) -> None:
    body = {"to": PHONE, "text": "hi"}
    old = _accepted_without_answer(app, device, "k6", body, status=DeliveryStatus.SENT)
    IdempotencyKey.objects.filter(key="k6").update(created_at=timezone.now() - timedelta(hours=25))
    data = sent(api, device, body, **keyed("k6"))
    assert data["message_id"] != old.wa_id
    assert IdempotencyKey.objects.get(key="k6").message.wa_id == data["message_id"]


@pytest.mark.django_db
@pytest.mark.parametrize(("second_body", "status"), [({"to": PHONE, "text": "hi"}, 202),
                                                     ({"to": PHONE, "text": "other"}, 409)])
def test_a_concurrent_duplicate_that_loses_the_race_replays_the_winner(api, device, monkeypatch,
                                                                       second_body: dict, status: int) -> None:
    """The loser looked for the key before the winner committed (``find`` saw nothing), so its own
    insert meets the unique constraint: its send is undone and it answers as a replay would."""
    winner = api.post(path_of(device), {"to": PHONE, "text": "hi"}, **keyed("race"))
    real_find = IdempotencyKey.find.__func__
    calls = []

    def find_too_early(cls, app, key):
        calls.append(key)
        return None if len(calls) == 1 else real_find(cls, app, key)

    monkeypatch.setattr(IdempotencyKey, "find", classmethod(find_too_early))
    loser = api.post(path_of(device), second_body, **keyed("race"))
    assert loser.status_code == status, loser.content
    if status == 202:
        assert loser.json() == winner.json()
        assert loser["Idempotent-Replayed"] == "true"
    else:
        assert error_of(loser) == "idempotency_key_reused"
    assert len(calls) == 2
    assert Message.objects.count() == 1
    assert DeviceCommand.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
