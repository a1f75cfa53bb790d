"""Storing messages WhatsApp reports (live and history) and the runner's verdict on sends: once per
device and WhatsApp id, with chats, contacts, unread counts, previews and ``message`` events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_chat, make_device, make_inbound, make_message
from whatsapp.engine.base import Kind, MediaRef
from whatsapp.errors import ErrorCode
from whatsapp.models import (
    Chat,
    ChatKind,
    Contact,
    DeliveryStatus,
    Device,
    DeviceEvent,
    Direction,
    EventType,
    Message,
)
from whatsapp.services.ingest import chat_for, ingest_history, ingest_message, link_identity, record_outbound

pytestmark = pytest.mark.django_db

PHONE = "15551234567@s.whatsapp.net"
LID = "123456789012345@lid"
GROUP = "120363025555555555@g.us"
MEMBER = "15559876543@s.whatsapp.net"


def chat(device: Device, jid: str = PHONE) -> Chat:
    return Chat.objects.get(device=device, jid=jid)


def message_events(device: Device) -> list[DeviceEvent]:
    return list(DeviceEvent.objects.filter(device=device, type=EventType.MESSAGE).order_by("sequence"))


# --- storing once -----------------------------------------------------------------------------


def test_an_inbound_message_is_stored_with_its_chat() -> None:
    device = make_device()
    stored = ingest_message(device, make_inbound(PHONE, wa_id="WA1", text="hello", push_name="Ann"))
    assert stored is not None
    assert (stored.wa_id, stored.body, stored.direction, stored.from_me) == ("WA1", "hello", Direction.INBOUND, False)
    assert stored.sender_name == "Ann"
    assert stored.status == ""
    assert stored.chat == chat(device)
    assert stored.chat.kind == ChatKind.DIRECT


def test_a_redelivered_message_is_stored_once() -> None:
    device = make_device()
    message = make_inbound(PHONE, wa_id="WA1", text="hello")
    assert ingest_message(device, message) is not None
    assert ingest_message(device, message) is None
    assert Message.objects.filter(device=device).count() == 1
    assert chat(device).unread_count == 1
    assert len(message_events(device)) == 1


def test_the_same_id_on_two_devices_is_two_messages() -> None:
    first, second = make_device(), make_device()
    message = make_inbound(PHONE, wa_id="WA1")
    assert ingest_message(first, message) is not None
    assert ingest_message(second, message) is not None


def test_a_chat_jid_with_a_device_suffix_is_normalised() -> None:
    device = make_device()
    stored = ingest_message(device, make_inbound("15551234567:7@s.whatsapp.net"))
    assert stored.chat.jid == PHONE


def test_a_group_message_goes_to_the_group_chat() -> None:
    device = make_device()
    stored = ingest_message(device, make_inbound(GROUP, sender_jid=MEMBER, text="hi all"))
    assert stored.chat.jid == GROUP
    assert stored.chat.kind == ChatKind.GROUP
    assert stored.chat.contact is None
    assert stored.sender_jid == MEMBER


def test_messages_reuse_the_existing_chat() -> None:
    device = make_device()
    existing = make_chat(device, PHONE, name="Ann")
    stored = ingest_message(device, make_inbound(PHONE))
    assert stored.chat == existing
    assert Chat.objects.filter(device=device).count() == 1


def test_a_media_message_keeps_what_is_needed_to_download_it() -> None:
    device = make_device()
    media = MediaRef(mime_type="image/jpeg", size=2048, sha256="ab" * 32, file_name="cat.jpg",
                     locator={"direct_path": "/v/t62/abc", "media_key": "a2V5"})
    stored = ingest_message(device, make_inbound(PHONE, kind=Kind.IMAGE, media=media))
    assert stored.type == "image"
    assert (stored.media_mime_type, stored.media_size, stored.media_sha256) == ("image/jpeg", 2048, "ab" * 32)
    assert stored.media_file_name == "cat.jpg"
    assert stored.media_info == {"direct_path": "/v/t62/abc", "media_key": "a2V5"}
    assert chat(device).last_message_preview == "[image]"


def test_kind_specific_content_is_kept() -> None:
    device = make_device()
    content = {"latitude": 52.52, "longitude": 13.405, "address": "Berlin"}
    stored = ingest_message(device, make_inbound(PHONE, kind=Kind.LOCATION, content=content))
    assert stored.type == "location"
    assert stored.content == content


# --- own messages -----------------------------------------------------------------------------


def test_a_message_sent_from_the_phone_is_stored_as_outbound_and_sent() -> None:
    device = make_device()
    stored = ingest_message(device, make_inbound(PHONE, sender_jid="15550001111@s.whatsapp.net", from_me=True,
                                                 text="on my way"))
    assert (stored.direction, stored.from_me, stored.status) == (Direction.OUTBOUND, True, DeliveryStatus.SENT)
    assert not stored.is_unread


# --- unread counts ----------------------------------------------------------------------------


def test_inbound_messages_are_counted_unread() -> None:
    device = make_device()
    ingest_message(device, make_inbound(PHONE))
    ingest_message(device, make_inbound(PHONE))
    assert chat(device).unread_count == 2


def test_own_messages_are_never_unread() -> None:
    device = make_device()
    ingest_message(device, make_inbound(PHONE, sender_jid="15550001111@s.whatsapp.net", from_me=True))
    assert chat(device).unread_count == 0


def test_history_is_never_unread() -> None:
    device = make_device()
    ingest_history(device, [make_inbound(PHONE), make_inbound(PHONE)])
    assert chat(device).unread_count == 0
    assert all(m.from_history for m in Message.objects.filter(device=device))


# --- chat preview -----------------------------------------------------------------------------


def test_a_newer_message_moves_the_preview_forward() -> None:
    device = make_device()
    now = timezone.now()
    ingest_message(device, make_inbound(PHONE, text="first", timestamp=now - timedelta(minutes=5)))
    ingest_message(device, make_inbound(PHONE, text="second", timestamp=now))
    stored = chat(device)
    assert (stored.last_message_preview, stored.last_message_at) == ("second", now)


def test_an_older_message_never_moves_the_preview_back() -> None:
    device = make_device()
    now = timezone.now()
    ingest_message(device, make_inbound(PHONE, text="latest", timestamp=now))
    ingest_message(device, make_inbound(PHONE, text="late arrival", timestamp=now - timedelta(hours=1)))
    stored = chat(device)
    assert (stored.last_message_preview, stored.last_message_at) == ("latest", now)
    assert stored.unread_count == 2


def test_history_older_than_the_chat_leaves_the_preview() -> None:
    device = make_device()
    now = timezone.now()
    ingest_message(device, make_inbound(PHONE, text="live", timestamp=now))
    ingest_history(device, [make_inbound(PHONE, text="old", timestamp=now - timedelta(days=3))])
    assert chat(device).last_message_preview == "live"


def test_the_preview_is_cut_to_120_characters() -> None:
    device = make_device()
    ingest_message(device, make_inbound(PHONE, text="x" * 500))
    assert chat(device).last_message_preview == "x" * 120


def test_the_devices_last_message_time_never_moves_back() -> None:
    """The runner keeps one Device instance for all the messages it ingests."""
    device = make_device()
    now = timezone.now()
    ingest_message(device, make_inbound(PHONE, timestamp=now))
    ingest_message(device, make_inbound(PHONE, timestamp=now - timedelta(hours=1)))
    assert Device.objects.get(pk=device.pk).last_message_at == now


# --- contacts and twins -----------------------------------------------------------------------


def test_a_direct_chat_is_linked_to_its_contact() -> None:
    device = make_device()
    stored = ingest_message(device, make_inbound(PHONE))
    assert stored.chat.contact == Contact.objects.get(device=device, phone_jid=PHONE)


def test_the_push_name_is_recorded_on_the_contact() -> None:
    device = make_device()
    ingest_message(device, make_inbound(PHONE, push_name="Ann"))
    ingest_message(device, make_inbound(PHONE, push_name="Annie"))
    assert Contact.objects.get(device=device, phone_jid=PHONE).push_name == "Annie"


def test_a_sender_with_phone_and_lid_makes_twins() -> None:
    device = make_device()
    stored = ingest_message(device, make_inbound(LID, sender_phone_jid=PHONE, sender_lid=LID, push_name="Ann"))
    contact = Contact.objects.get(device=device)
    assert (contact.phone_jid, contact.lid, contact.push_name) == (PHONE, LID, "Ann")
    assert stored.chat.contact == contact
    assert (stored.sender_phone_jid, stored.sender_lid) == (PHONE, LID)


def test_twins_met_separately_become_one_contact() -> None:
    device = make_device()
    by_phone = ingest_message(device, make_inbound(PHONE)).chat
    by_lid = ingest_message(device, make_inbound(LID)).chat
    assert Contact.objects.filter(device=device).count() == 2
    ingest_message(device, make_inbound(LID, sender_phone_jid=PHONE, sender_lid=LID))
    [contact] = Contact.objects.filter(device=device)
    by_phone.refresh_from_db()
    by_lid.refresh_from_db()
    assert by_phone.contact == contact == by_lid.contact


def test_a_group_member_with_phone_and_lid_makes_twins_but_no_chat() -> None:
    device = make_device()
    ingest_message(device, make_inbound(GROUP, sender_jid=LID, sender_phone_jid=MEMBER, sender_lid=LID))
    contact = Contact.objects.get(device=device)
    assert (contact.phone_jid, contact.lid) == (MEMBER, LID)
    assert list(Chat.objects.filter(device=device).values_list("jid", flat=True)) == [GROUP]


def test_link_identity_joins_a_phone_jid_and_a_lid() -> None:
    device = make_device()
    chat_by_lid = chat_for(device, LID)
    contact = link_identity(device, PHONE, LID)
    assert (contact.phone_jid, contact.lid) == (PHONE, LID)
    chat_by_lid.refresh_from_db()
    assert chat_by_lid.contact == contact
    assert chat_for(device, PHONE).contact == contact


# --- events -----------------------------------------------------------------------------------


def test_each_new_message_appends_a_message_event() -> None:
    device = make_device()
    now = timezone.now()
    ingest_message(device, make_inbound(PHONE, wa_id="WA1", text="hello", push_name="Ann", timestamp=now))
    [event] = message_events(device)
    payload = event.payload
    assert payload["message_id"] == "WA1"
    assert payload["chat_jid"] == PHONE
    assert payload["text"] == "hello"
    assert payload["direction"] == "in"
    assert payload["is_from_me"] is False
    assert payload["push_name"] == "Ann"
    assert payload["from_history"] is False
    assert payload["is_group"] is False


def test_history_events_say_they_are_history() -> None:
    device = make_device()
    ingest_history(device, [make_inbound(PHONE)])
    [event] = message_events(device)
    assert event.payload["from_history"] is True


# --- history ----------------------------------------------------------------------------------


def test_history_returns_how_many_messages_were_new() -> None:
    device = make_device()
    live = make_inbound(PHONE, wa_id="WA1")
    ingest_message(device, live)
    assert len(ingest_history(device, [live, make_inbound(PHONE, wa_id="WA2"), make_inbound(PHONE, wa_id="WA3")])) == 2
    assert Message.objects.filter(device=device).count() == 3
    assert chat(device).unread_count == 1  # the live one only


def test_an_empty_history_batch_stores_nothing() -> None:
    device = make_device()
    assert ingest_history(device, ()) == []
    assert not DeviceEvent.objects.filter(device=device).exists()


# --- record_outbound --------------------------------------------------------------------------


def queued(device: Device) -> Message:
    return make_message(device, make_chat(device, PHONE), wa_id="3EB0AAAAAAAAAAAAAAAAAA", body="hi there",
                        direction=Direction.OUTBOUND, from_me=True, status=DeliveryStatus.QUEUED)


def test_a_sent_verdict_records_whatsapps_time_and_moves_the_preview() -> None:
    device = make_device()
    message = queued(device)
    sent_at = timezone.now() + timedelta(seconds=2)
    record_outbound(device, message, status=DeliveryStatus.SENT, timestamp=sent_at)
    message.refresh_from_db()
    assert (message.status, message.sent_at, message.timestamp) == (DeliveryStatus.SENT, sent_at, sent_at)
    stored_chat = chat(device)
    assert (stored_chat.last_message_preview, stored_chat.last_message_at) == ("hi there", sent_at)
    assert stored_chat.unread_count == 0
    [event] = message_events(device)
    assert (event.payload["message_id"], event.payload["status"]) == (message.wa_id, "sent")


def test_a_late_sent_verdict_never_moves_the_preview_back() -> None:
    """A send acknowledged after a newer message arrived leaves the newer preview, whatever chat
    object the caller holds."""
    device = make_device()
    message = queued(device)
    message.chat  # noqa: B018 - cache the chat as it is now (no preview yet)
    newer = timezone.now() + timedelta(minutes=5)
    ingest_message(device, make_inbound(message.chat.jid, wa_id="NEWER", text="newer", timestamp=newer))
    record_outbound(device, message, status=DeliveryStatus.SENT, timestamp=newer - timedelta(minutes=1))
    stored_chat = chat(device, message.chat.jid)
    assert (stored_chat.last_message_preview, stored_chat.last_message_at) == ("newer", newer)


def test_a_failed_verdict_records_the_code_and_leaves_the_preview() -> None:
    device = make_device()
    message = queued(device)
    record_outbound(device, message, status=DeliveryStatus.FAILED, error_code=ErrorCode.MESSAGE_SEND_FAILED.code)
    message.refresh_from_db()
    assert (message.status, message.error_code) == (DeliveryStatus.FAILED, "MESSAGE_SEND_FAILED")
    assert message.sent_at is None
    assert chat(device).last_message_preview == ""
    [event] = message_events(device)
    assert (event.payload["status"], event.payload["error_code"]) == ("failed", "MESSAGE_SEND_FAILED")
