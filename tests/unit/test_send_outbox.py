"""Sending through the outbox: a queued Message and its send command in one transaction, recipient
by JID or phone (never fuzzy), validation before anything is stored, and the wait for the ack."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from django.utils import timezone

from media.models import MediaDirection, MediaFile
from tests.factories import RunnerSide, connected_device, make_chat, make_contact, make_device
from whatsapp.engine.base import Kind
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import (
    Chat,
    CommandKind,
    CommandState,
    ConnectionState,
    DeliveryStatus,
    Device,
    DeviceCommand,
    DeviceStatus,
    Direction,
    Message,
)
from whatsapp.services.ingest import record_outbound
from whatsapp.services.messages import MAX_TEXT_CHARS, Outgoing, new_message_id, send_message

PHONE = "15551234567@s.whatsapp.net"
OWN = "15550001111@s.whatsapp.net"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def send(device: Device, **fields) -> Message:
    fields.setdefault("to", PHONE)
    fields.setdefault("text", "hello" if fields.get("kind", Kind.TEXT) == Kind.TEXT else "")
    return send_message(device, Outgoing(**fields), wait_s=0)


def refusal(device: Device, **fields) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as excinfo:
        send(device, **fields)
    assert not Message.objects.exists(), "nothing is stored for a refused send"
    assert not DeviceCommand.objects.exists(), "nothing is queued for a refused send"
    return excinfo.value


# --- the outbox -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_send_is_queued_with_its_command() -> None:
    device = connected_device(phone_jid=OWN)
    message = send(device, text="hello")
    assert (message.status, message.direction, message.from_me) == (DeliveryStatus.QUEUED, Direction.OUTBOUND, True)
    assert (message.body, message.type, message.sender_jid) == ("hello", "text", OWN)
    assert message.chat.jid == PHONE
    [command] = DeviceCommand.objects.filter(device=device)
    assert (command.kind, command.state, command.message_id) == (CommandKind.SEND, CommandState.PENDING, message.pk)
    assert command.payload == {"to": PHONE}


@pytest.mark.django_db
def test_the_message_id_is_chosen_up_front_in_whatsapp_style() -> None:
    message = send(connected_device())
    assert re.fullmatch(r"3EB0[0-9A-F]{18}", message.wa_id)
    assert all(re.fullmatch(r"3EB0[0-9A-F]{18}", new_message_id()) for _ in range(50))
    assert len({new_message_id() for _ in range(50)}) == 50


@pytest.mark.django_db
def test_a_queued_send_is_not_unread_and_leaves_the_preview() -> None:
    device = connected_device()
    send(device)
    chat = Chat.objects.get(device=device, jid=PHONE)
    assert (chat.unread_count, chat.last_message_preview) == (0, "")


@pytest.mark.django_db
def test_a_quote_is_kept() -> None:
    message = send(connected_device(), quoted_wa_id="3EB0QUOTED")
    assert message.quoted_wa_id == "3EB0QUOTED"


# --- recipients -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("to", "jid"), [
    ("+1 (555) 123-4567", PHONE),
    ("15551234567", PHONE),
    ("15551234567:3@s.whatsapp.net", PHONE),
    ("123456789012345@lid", "123456789012345@lid"),
    ("120363025555555555@g.us", "120363025555555555@g.us"),
])
def test_the_recipient_is_a_jid_or_a_phone_number(to: str, jid: str) -> None:
    device = connected_device()
    message = send(device, to=to)
    assert message.chat.jid == jid
    assert DeviceCommand.objects.get(message=message).payload["to"] == jid


@pytest.mark.django_db
def test_a_number_is_never_fuzzy_matched_to_a_known_contact() -> None:
    device = connected_device()
    near = make_chat(device, "15551234568@s.whatsapp.net", name="Ann",
                     contact=make_contact(device, phone_jid="15551234568@s.whatsapp.net", push_name="Ann"))
    message = send(device, to="+1 555 123 4567")
    assert message.chat.jid == PHONE
    assert message.chat != near


@pytest.mark.django_db
def test_a_name_is_not_a_recipient() -> None:
    device = connected_device()
    make_chat(device, PHONE, name="Ann")
    assert refusal(device, to="Ann").code is ErrorCode.VALIDATION_ERROR


@pytest.mark.django_db
@pytest.mark.parametrize("to", ["", "0044 20 7946 0958", "12345", "15551234567@example.com", "abc@lid"])
def test_an_invalid_recipient_is_a_validation_error(to: str) -> None:
    error = refusal(connected_device(), to=to)
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.details["field"] == "to"


# --- validation -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["", "   \n"])
def test_text_is_required(text: str) -> None:
    error = refusal(connected_device(), text=text)
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.details["field"] == "text"


@pytest.mark.django_db
def test_text_up_to_4096_characters_is_accepted() -> None:
    assert len(send(connected_device(), text="x" * MAX_TEXT_CHARS).body) == 4096


@pytest.mark.django_db
def test_longer_text_is_message_too_long() -> None:
    error = refusal(connected_device(), text="x" * (MAX_TEXT_CHARS + 1))
    assert error.code is ErrorCode.MESSAGE_TOO_LONG
    assert (error.details["max"], error.details["length"]) == (4096, 4097)


@pytest.mark.django_db
def test_a_caption_is_limited_too() -> None:
    error = refusal(connected_device(), kind=Kind.IMAGE, media=b"jpeg", mime_type="image/jpeg", text="x" * 4097)
    assert error.code is ErrorCode.MESSAGE_TOO_LONG


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [Kind.IMAGE, Kind.VIDEO, Kind.AUDIO, Kind.DOCUMENT, Kind.STICKER])
def test_media_kinds_need_media(kind: Kind) -> None:
    error = refusal(connected_device(), kind=kind, media=None)
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.details["field"] == "media"


@pytest.mark.django_db
def test_media_over_the_limit_is_too_large(settings) -> None:
    settings.MEDIA_MAX_BYTES = 10
    device = connected_device()
    assert refusal(device, kind=Kind.DOCUMENT, media=b"x" * 11, mime_type="application/pdf").code \
        is ErrorCode.MEDIA_TOO_LARGE
    assert send(device, kind=Kind.DOCUMENT, media=b"x" * 10, mime_type="application/pdf").media_size == 10


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "field"), [
    ({"kind": Kind.LOCATION, "latitude": 52.5}, "latitude"),
    ({"kind": Kind.LOCATION, "longitude": 13.4}, "latitude"),
    ({"kind": Kind.CONTACT, "contact_name": "Ann"}, "vcard"),
    ({"kind": Kind.CONTACT, "vcard": "BEGIN:VCARD\nEND:VCARD"}, "vcard"),
    ({"kind": Kind.POLL, "text": "Lunch?", "poll_options": ("pizza",)}, "poll_options"),
])
def test_kind_specific_fields_are_required(fields: dict, field: str) -> None:
    error = refusal(connected_device(), **fields)
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.details["field"] == field


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "content"), [
    ({"kind": Kind.LOCATION, "latitude": 0.0, "longitude": 0.0, "address": "Null Island"},
     {"latitude": 0.0, "longitude": 0.0, "address": "Null Island"}),
    ({"kind": Kind.CONTACT, "contact_name": "Ann", "vcard": "BEGIN:VCARD\nEND:VCARD"},
     {"name": "Ann", "vcard": "BEGIN:VCARD\nEND:VCARD"}),
    ({"kind": Kind.POLL, "text": "Lunch?", "poll_options": ("pizza", "sushi")},
     {"name": "Lunch?", "options": ["pizza", "sushi"], "selectable_count": 1}),
])
def test_kind_specific_fields_are_stored_as_content(fields: dict, content: dict) -> None:
    message = send(connected_device(), **fields)
    assert message.type == str(fields["kind"])
    assert message.content == content


# --- the device must be connected -------------------------------------------------------------


@pytest.mark.django_db
def test_a_device_not_linked_yet_is_not_connected() -> None:
    assert refusal(make_device()).code is ErrorCode.MESSAGE_NOT_CONNECTED


@pytest.mark.django_db
def test_a_connected_device_whose_connection_dropped_is_not_connected() -> None:
    device = connected_device()
    device.set_connection_state(ConnectionState.RECONNECTING, ErrorCode.CONNECTION_LOST)
    assert refusal(device).code is ErrorCode.MESSAGE_NOT_CONNECTED


@pytest.mark.django_db
def test_the_stored_state_decides_not_a_stale_instance() -> None:
    device = connected_device()
    Device.objects.filter(pk=device.pk).update(status=DeviceStatus.DISCONNECTED,
                                               connection_state=ConnectionState.CLOSED)
    assert refusal(device).code is ErrorCode.MESSAGE_NOT_CONNECTED


@pytest.mark.django_db
def test_a_destroyed_device_cannot_send() -> None:
    device = connected_device()
    device.destroy()
    assert refusal(device).code is ErrorCode.DEVICE_DESTROYED


@pytest.mark.django_db
def test_the_connection_is_checked_before_the_input() -> None:
    assert refusal(make_device(), to="not a number", text="").code is ErrorCode.MESSAGE_NOT_CONNECTED


# --- media ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_outbound_media_is_written_under_media_root(media_root: Path) -> None:
    device = connected_device()
    data = b"\xff\xd8\xff\xe0 a jpeg"
    message = send(device, kind=Kind.IMAGE, media=data, mime_type="image/jpeg", text="a cat")
    media_file = MediaFile.objects.get(message=message)
    assert media_file.path == f"media/{device.app_id}/{device.pk}-{message.wa_id}.jpg"
    assert (media_root / media_file.path).read_bytes() == data
    assert (media_file.direction, media_file.mime_type, media_file.size) == (MediaDirection.OUTBOUND, "image/jpeg",
                                                                             len(data))
    assert media_file.sha256 == hashlib.sha256(data).hexdigest()
    assert (message.media_size, message.media_sha256) == (len(data), media_file.sha256)
    assert (message.body, message.media_mime_type) == ("a cat", "image/jpeg")
    assert DeviceCommand.objects.get(message=message).payload == {"to": PHONE, "media_path": media_file.path}


@pytest.mark.django_db
@pytest.mark.parametrize(("mime_type", "file_name", "extension"), [
    ("application/pdf", "report.PDF", "pdf"),
    ("application/zip", "bundle.zip", "zip"),
    ("application/octet-stream", "", "bin"),
])
def test_the_media_extension_comes_from_the_type_or_the_name(mime_type: str, file_name: str, extension: str) -> None:
    message = send(connected_device(), kind=Kind.DOCUMENT, media=b"data", mime_type=mime_type, file_name=file_name)
    assert MediaFile.objects.get(message=message).path.endswith(f".{extension}")
    assert message.media_file_name == file_name


@pytest.mark.django_db
def test_a_voice_note_is_flagged() -> None:
    message = send(connected_device(), kind=Kind.AUDIO, media=b"ogg", mime_type="audio/ogg", ptt=True)
    assert message.media_ptt


# --- waiting for the ack ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_send_waits_for_the_ack_and_returns_the_sent_message() -> None:
    device = connected_device()
    acked_at = timezone.now()

    def deliver(command: DeviceCommand) -> None:
        record_outbound(device, command.message, status=DeliveryStatus.SENT, timestamp=acked_at)
        command.succeed({"message_id": command.message.wa_id, "status": "sent"})

    with RunnerSide(device.pk, deliver):
        message = send_message(device, Outgoing(to=PHONE, text="hello"), wait_s=5)
    assert (message.status, message.sent_at) == (DeliveryStatus.SENT, acked_at)


@pytest.mark.django_db(transaction=True)
def test_a_failed_send_raises_its_error_naming_the_message() -> None:
    device = connected_device()

    def refuse(command: DeviceCommand) -> None:
        record_outbound(device, command.message, status=DeliveryStatus.FAILED,
                        error_code=ErrorCode.MESSAGE_CONTACT_BLOCKED.code)
        command.fail(ErrorCode.MESSAGE_CONTACT_BLOCKED)

    with RunnerSide(device.pk, refuse), pytest.raises(WhatsAppError) as excinfo:
        send_message(device, Outgoing(to=PHONE, text="hello"), wait_s=5)
    assert excinfo.value.code is ErrorCode.MESSAGE_CONTACT_BLOCKED
    message = Message.objects.get(wa_id=excinfo.value.details["message_id"])
    assert message.status == DeliveryStatus.FAILED


@pytest.mark.django_db(transaction=True)
def test_when_the_wait_runs_out_the_message_stays_queued() -> None:
    device = connected_device()
    message = send_message(device, Outgoing(to=PHONE, text="hello"), wait_s=0.1)
    assert message.status == DeliveryStatus.QUEUED
    assert DeviceCommand.objects.get(message=message).state == CommandState.PENDING
