"""Updates WhatsApp reports about messages and people: receipts (forward only, an event only when
something changed), reactions (add, replace, remove), edits, revokes and presence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tests.factories import make_chat, make_contact, make_device, make_message, make_outbound, make_receipt
from whatsapp.engine.base import (
    ChatPresenceChanged,
    ChatState,
    MessageEdited,
    MessageRevoked,
    PresenceChanged,
    ReactionReceived,
    ReceiptStatus,
)
from whatsapp.models import DeliveryStatus, Device, DeviceEvent, EventType, Message, Reaction
from whatsapp.services.ingest import (
    ingest_chat_presence,
    ingest_edit,
    ingest_presence,
    ingest_reaction,
    ingest_receipt,
    ingest_revoke,
)

pytestmark = pytest.mark.django_db

PHONE = "15551234567@s.whatsapp.net"
OTHER = "15559876543@s.whatsapp.net"


def events(device: Device, type: str) -> list[DeviceEvent]:
    return list(DeviceEvent.objects.filter(device=device, type=type).order_by("sequence"))


def status_of(message: Message) -> str:
    message.refresh_from_db()
    return message.status


# --- receipts ---------------------------------------------------------------------------------


def test_a_delivery_receipt_advances_a_sent_message() -> None:
    device = make_device()
    message = make_outbound(device, "M1")
    at = timezone.now()
    assert ingest_receipt(device, make_receipt(ReceiptStatus.DELIVERED, "M1", at=at)) == 1
    message.refresh_from_db()
    assert (message.status, message.delivered_at) == (DeliveryStatus.DELIVERED, at)
    [event] = events(device, EventType.RECEIPT)
    assert event.payload["message_ids"] == ["M1"]
    assert event.payload["status"] == "delivered"
    assert event.payload["chat_jid"] == PHONE


def test_a_read_receipt_records_the_read_time() -> None:
    device = make_device()
    message = make_outbound(device, "M1", DeliveryStatus.DELIVERED)
    at = timezone.now()
    ingest_receipt(device, make_receipt(ReceiptStatus.READ, "M1", at=at))
    message.refresh_from_db()
    assert (message.status, message.read_at) == (DeliveryStatus.READ, at)


def test_played_counts_as_read() -> None:
    device = make_device()
    message = make_outbound(device, "M1")
    ingest_receipt(device, make_receipt(ReceiptStatus.PLAYED, "M1"))
    assert status_of(message) == DeliveryStatus.READ
    assert events(device, EventType.RECEIPT)[0].payload["status"] == "played"


def test_a_receipt_may_skip_a_step() -> None:
    device = make_device()
    message = make_outbound(device, "M1")
    ingest_receipt(device, make_receipt(ReceiptStatus.READ, "M1"))
    assert status_of(message) == DeliveryStatus.READ


def test_a_late_delivery_receipt_never_moves_a_read_message_back() -> None:
    device = make_device()
    message = make_outbound(device, "M1", DeliveryStatus.READ)
    assert ingest_receipt(device, make_receipt(ReceiptStatus.DELIVERED, "M1")) == 0
    message.refresh_from_db()
    assert (message.status, message.delivered_at) == (DeliveryStatus.READ, None)


def test_a_repeated_receipt_changes_nothing_and_appends_no_event() -> None:
    device = make_device()
    make_outbound(device, "M1")
    ingest_receipt(device, make_receipt(ReceiptStatus.DELIVERED, "M1"))
    assert ingest_receipt(device, make_receipt(ReceiptStatus.DELIVERED, "M1")) == 0
    assert len(events(device, EventType.RECEIPT)) == 1


def test_a_failed_message_stays_failed() -> None:
    device = make_device()
    message = make_outbound(device, "M1", DeliveryStatus.FAILED)
    assert ingest_receipt(device, make_receipt(ReceiptStatus.READ, "M1")) == 0
    assert status_of(message) == DeliveryStatus.FAILED


def test_receipts_for_unknown_or_inbound_messages_are_ignored() -> None:
    device = make_device()
    inbound = make_message(device, make_chat(device, PHONE), wa_id="IN1")
    assert ingest_receipt(device, make_receipt(ReceiptStatus.READ, "IN1", "NOPE")) == 0
    inbound.refresh_from_db()
    assert (inbound.status, inbound.read_at) == ("", None)
    assert events(device, EventType.RECEIPT) == []


def test_the_event_lists_only_the_messages_that_changed() -> None:
    device = make_device()
    make_outbound(device, "M1")
    make_outbound(device, "M2", DeliveryStatus.READ)
    make_outbound(device, "M3")
    assert ingest_receipt(device, make_receipt(ReceiptStatus.DELIVERED, "M1", "M2", "M3")) == 2
    [event] = events(device, EventType.RECEIPT)
    assert sorted(event.payload["message_ids"]) == ["M1", "M3"]


def test_receipts_only_touch_the_devices_own_messages() -> None:
    device, other = make_device(), make_device()
    theirs = make_outbound(other, "M1")
    assert ingest_receipt(device, make_receipt(ReceiptStatus.READ, "M1")) == 0
    assert status_of(theirs) == DeliveryStatus.SENT


# --- reactions --------------------------------------------------------------------------------


def reaction(emoji: str, sender: str = PHONE, target: str = "M1") -> ReactionReceived:
    return ReactionReceived(chat_jid=PHONE, sender_jid=sender, target_wa_id=target, emoji=emoji,
                            timestamp=timezone.now())


def emojis(message: Message) -> dict[str, str]:
    return dict(Reaction.objects.filter(message=message).values_list("sender_jid", "emoji"))


def test_a_reaction_is_added() -> None:
    device = make_device()
    message = make_outbound(device, "M1")
    ingest_reaction(device, reaction("👍"))
    assert emojis(message) == {PHONE: "👍"}
    [event] = events(device, EventType.REACTION)
    assert event.payload["message_id"] == "M1"
    assert event.payload["emoji"] == "👍"
    assert event.payload["removed"] is False


def test_a_new_reaction_replaces_the_senders_previous_one() -> None:
    device = make_device()
    message = make_outbound(device, "M1")
    ingest_reaction(device, reaction("👍"))
    ingest_reaction(device, reaction("❤️"))
    assert emojis(message) == {PHONE: "❤️"}


def test_each_sender_has_their_own_reaction() -> None:
    device = make_device()
    message = make_outbound(device, "M1")
    ingest_reaction(device, reaction("👍"))
    ingest_reaction(device, reaction("😂", sender=OTHER))
    assert emojis(message) == {PHONE: "👍", OTHER: "😂"}


def test_an_empty_emoji_removes_the_reaction() -> None:
    device = make_device()
    message = make_outbound(device, "M1")
    ingest_reaction(device, reaction("👍"))
    ingest_reaction(device, reaction("😂", sender=OTHER))
    ingest_reaction(device, reaction(""))
    assert emojis(message) == {OTHER: "😂"}
    assert events(device, EventType.REACTION)[-1].payload["removed"] is True


def test_a_reaction_to_an_unknown_message_is_still_reported() -> None:
    device = make_device()
    ingest_reaction(device, reaction("👍", target="UNKNOWN"))
    assert not Reaction.objects.exists()
    assert events(device, EventType.REACTION)[0].payload["message_id"] == "UNKNOWN"


# --- edits and revokes ------------------------------------------------------------------------


def test_an_edit_replaces_the_text() -> None:
    device = make_device()
    message = make_message(device, make_chat(device, PHONE), wa_id="M1", body="helo", sender_jid=PHONE)
    at = timezone.now() + timedelta(seconds=5)
    ingest_edit(device, MessageEdited(chat_jid=PHONE, sender_jid=PHONE, target_wa_id="M1", text="hello",
                                      timestamp=at))
    message.refresh_from_db()
    assert (message.body, message.edited_at) == ("hello", at)
    [event] = events(device, EventType.MESSAGE_EDITED)
    assert (event.payload["message_id"], event.payload["text"]) == ("M1", "hello")


def test_a_revoke_marks_the_message_revoked() -> None:
    device = make_device()
    message = make_message(device, make_chat(device, PHONE), wa_id="M1", body="oops", sender_jid=PHONE)
    at = timezone.now()
    ingest_revoke(device, MessageRevoked(chat_jid=PHONE, sender_jid=PHONE, target_wa_id="M1", timestamp=at))
    message.refresh_from_db()
    assert message.revoked_at == at
    [event] = events(device, EventType.MESSAGE_REVOKED)
    assert event.payload["message_id"] == "M1"


def test_edits_and_revokes_only_touch_the_devices_own_messages() -> None:
    device, other = make_device(), make_device()
    theirs = make_message(other, make_chat(other, PHONE), wa_id="M1", body="theirs")
    now = timezone.now()
    ingest_edit(device, MessageEdited(chat_jid=PHONE, sender_jid=PHONE, target_wa_id="M1", text="x", timestamp=now))
    ingest_revoke(device, MessageRevoked(chat_jid=PHONE, sender_jid=PHONE, target_wa_id="M1", timestamp=now))
    theirs.refresh_from_db()
    assert (theirs.body, theirs.edited_at, theirs.revoked_at) == ("theirs", None, None)


def test_nobody_but_the_author_edits_or_revokes_a_message() -> None:
    device = make_device()
    group = make_chat(device, "120363000000000001@g.us")
    theirs = make_message(device, group, wa_id="M1", body="mine", sender_jid=PHONE)
    ours = make_message(device, make_chat(device, OTHER), wa_id="M2", body="ours", from_me=True,
                        direction="out", sender_jid="15550001111@s.whatsapp.net")
    now = timezone.now()
    ingest_edit(device, MessageEdited(chat_jid=group.jid, sender_jid=OTHER, target_wa_id="M1", text="x",
                                      timestamp=now))
    ingest_edit(device, MessageEdited(chat_jid=OTHER, sender_jid=OTHER, target_wa_id="M2", text="x", timestamp=now))
    ingest_revoke(device, MessageRevoked(chat_jid=OTHER, sender_jid=OTHER, target_wa_id="M2", timestamp=now))
    ingest_edit(device, MessageEdited(chat_jid=OTHER, sender_jid=PHONE, target_wa_id="M1", text="x", timestamp=now))
    for message in (theirs, ours):
        message.refresh_from_db()
    assert (theirs.body, theirs.edited_at) == ("mine", None)
    assert (ours.body, ours.edited_at, ours.revoked_at) == ("ours", None, None)
    assert events(device, EventType.MESSAGE_EDITED) == []
    assert events(device, EventType.MESSAGE_REVOKED) == []


def test_the_author_may_edit_from_its_lid_twin_and_we_may_edit_our_own() -> None:
    device = make_device()
    make_contact(device, phone_jid=PHONE, lid="88000111@lid")
    theirs = make_message(device, make_chat(device, PHONE), wa_id="M1", body="helo", sender_jid=PHONE)
    ours = make_message(device, make_chat(device, OTHER), wa_id="M2", body="ours", from_me=True, direction="out")
    now = timezone.now()
    ingest_edit(device, MessageEdited(chat_jid="88000111@lid", sender_jid="88000111@lid", target_wa_id="M1",
                                      text="hello", timestamp=now))
    ingest_edit(device, MessageEdited(chat_jid=OTHER, sender_jid="", target_wa_id="M2", text="ours!", timestamp=now,
                                      from_me=True))
    theirs.refresh_from_db()
    ours.refresh_from_db()
    assert (theirs.body, ours.body) == ("hello", "ours!")


def test_a_group_admin_may_revoke_a_members_message() -> None:
    device = make_device()
    group = make_chat(device, "120363000000000001@g.us")
    message = make_message(device, group, wa_id="M1", body="spam", sender_jid=PHONE)
    ingest_revoke(device, MessageRevoked(chat_jid=group.jid, sender_jid=OTHER, target_wa_id="M1",
                                         timestamp=timezone.now()))
    message.refresh_from_db()
    assert message.revoked_at is not None


# --- presence ---------------------------------------------------------------------------------


def test_presence_is_reported_as_online_or_offline() -> None:
    device = make_device()
    seen = (timezone.now() - timedelta(minutes=3)).replace(microsecond=0)  # JSON keeps milliseconds
    ingest_presence(device, PresenceChanged(jid=PHONE, available=True))
    ingest_presence(device, PresenceChanged(jid=PHONE, available=False, last_seen=seen))
    online, offline = events(device, EventType.PRESENCE)
    assert (online.payload["jid"], online.payload["status"]) == (PHONE, "online")
    assert offline.payload["status"] == "offline"
    assert parse_datetime(offline.payload["last_seen"]) == seen


def test_typing_in_a_chat_is_reported() -> None:
    device = make_device()
    ingest_chat_presence(device, ChatPresenceChanged(chat_jid=PHONE, sender_jid=PHONE, state=ChatState.COMPOSING))
    [event] = events(device, EventType.CHAT_PRESENCE)
    assert event.payload == {"chat_jid": PHONE, "sender_jid": PHONE, "state": "composing"}
