"""Simulator messaging: sends and what the network records, dedupe by id, receipts, incoming messages
by phone and by LID, media bytes, history sync, groups and contacts (whatsapp-behaviour.md §2, §4-§8)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.simulator import (
    ALICE,
    ALICE_LID,
    BOB,
    CHLOE,
    DEV,
    FALCON,
    FAMILY,
    FERNANDA,
    LANDLINE,
    NEWS,
    OWNER,
    act,
)
from whatsapp.engine.base import (
    ChatPresenceChanged,
    ChatState,
    Connected,
    HistoryBatch,
    IdentityLinked,
    Kind,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    OutgoingMessage,
    ParticipantAction,
    PresenceChanged,
    ReactionReceived,
    ReceiptReceived,
    ReceiptStatus,
)
from whatsapp.engine.simulator import network, world
from whatsapp.engine.simulator.models import NetworkRecord, SimFault, WorldGroup
from whatsapp.engine.simulator.network import SimulationError
from whatsapp.errors import ErrorCode, WhatsAppError

pytestmark = pytest.mark.django_db(transaction=True)


def sent(engine, kind="send"):
    return NetworkRecord.objects.filter(device_id=engine.device_id, kind=kind).order_by("id")


# --- sending ---------------------------------------------------------------------------------


def test_a_text_goes_to_the_lid_and_is_delivered_then_read(linked):
    engine, events = linked
    result = engine.send(OutgoingMessage(wa_id="3EB0AAA", to_jid=ALICE, text="hello"))
    assert result.wa_id == "3EB0AAA"
    [record] = sent(engine)
    assert record.wa_id == "3EB0AAA"
    assert record.chat_jid == ALICE
    assert record.payload["text"] == "hello"
    assert record.payload["routed_to"] == ALICE_LID
    assert record.payload["peer_recipient_pn"] == ALICE

    delivered_at, delivered = events.wait_for_timed(ReceiptReceived, lambda r: r.status == ReceiptStatus.DELIVERED)
    read_at, read = events.wait_for_timed(ReceiptReceived, lambda r: r.status == ReceiptStatus.READ)
    assert delivered.wa_ids == read.wa_ids == ("3EB0AAA",)
    assert delivered.chat_jid == delivered.sender_jid == ALICE
    assert read_at > delivered_at


def test_a_contact_who_does_not_read_only_sends_delivered(linked):
    engine, events = linked
    engine.send(OutgoingMessage(wa_id="M-BOB", to_jid=BOB, text="hi"))
    events.wait_for(ReceiptReceived, lambda r: r.status == ReceiptStatus.DELIVERED)
    later = events.drain(0.3)
    assert not [e for e in later if isinstance(e, ReceiptReceived)]


def test_the_same_wa_id_twice_is_one_message(linked):
    engine, events = linked
    first = engine.send(OutgoingMessage(wa_id="DUP1", to_jid=ALICE, text="once"))
    second = engine.send(OutgoingMessage(wa_id="DUP1", to_jid=ALICE, text="once"))
    assert second == first
    assert sent(engine).count() == 1
    events.wait_for(ReceiptReceived, lambda r: r.status == ReceiptStatus.DELIVERED)
    events.wait_for(ReceiptReceived, lambda r: r.status == ReceiptStatus.READ)
    assert [e for e in events.drain(0.2) if isinstance(e, ReceiptReceived)] == []  # receipts once too


def test_a_resent_id_is_the_first_message_whatever_would_refuse_it_now(linked):
    engine, _ = linked
    first = engine.send(OutgoingMessage(wa_id="AGAIN", to_jid=CHLOE, text="once"))
    world.add_contact("+15145550103", on_whatsapp=False)  # the recipient left WhatsApp meanwhile
    assert engine.send(OutgoingMessage(wa_id="AGAIN", to_jid=CHLOE, text="once")) == first
    assert engine.send(OutgoingMessage(wa_id="AGAIN", to_jid=ALICE, text="")) == first  # empty text
    network.store_fault(engine.device_id, "rate-limit")
    assert engine.send(OutgoingMessage(wa_id="AGAIN", to_jid=ALICE, text="once")) == first
    assert SimFault.objects.get().remaining == 1  # a resend does not reach the server: the fault waits
    with pytest.raises(WhatsAppError) as refused:
        engine.send(OutgoingMessage(wa_id="NEW", to_jid=CHLOE, text="hi"))
    assert refused.value.code is ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND
    assert sent(engine).count() == 1


def test_a_send_is_one_insert_and_an_idle_poll_one_query(linked):
    engine, _ = linked
    engine._poll_once()  # the poller has seen the network as it is now
    engine.send(OutgoingMessage(wa_id="WARM", to_jid=ALICE, text="hi"))  # caches the recipient
    with CaptureQueriesContext(connection) as queries:
        engine.send(OutgoingMessage(wa_id="HOT", to_jid=ALICE, text="hi"))
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    with CaptureQueriesContext(connection) as queries:
        engine._poll_once()
    assert len(queries.captured_queries) == 1


def test_a_world_change_reaches_the_cached_route_at_once(linked):
    engine, _ = linked
    engine.send(OutgoingMessage(wa_id="LID0", to_jid=CHLOE, text="hi"))
    assert sent(engine).get().payload["routed_to"] == CHLOE  # no LID yet
    chloe = world.add_contact("+15145550103", lid="auto")
    engine.send(OutgoingMessage(wa_id="LID1", to_jid=CHLOE, text="hi"))
    assert sent(engine).get(wa_id="LID1").payload["routed_to"] == chloe.lid


def test_media_sends_record_the_size_and_sha256_of_the_bytes(linked):
    engine, _ = linked
    data = bytes(range(256)) * 41
    engine.send(OutgoingMessage(wa_id="IMG1", to_jid=ALICE, kind=Kind.IMAGE, media=data, mime_type="image/jpeg",
                                text="caption", file_name="a.jpg"))
    engine.send(OutgoingMessage(wa_id="PTT1", to_jid=ALICE, kind=Kind.AUDIO, media=b"ogg", mime_type="audio/ogg",
                                ptt=True))
    image, voice = sent(engine)
    assert image.payload["media"] == {"mime_type": "image/jpeg", "size": len(data), "file_name": "a.jpg",
                                      "sha256": hashlib.sha256(data).hexdigest(), "ptt": False}
    assert image.payload["caption"] == "caption"
    assert image.payload["mediatype"] == "image"
    assert voice.payload["mediatype"] == "ptt"
    with pytest.raises(WhatsAppError) as failure:
        engine.send(OutgoingMessage(wa_id="IMG2", to_jid=ALICE, kind=Kind.IMAGE))
    assert failure.value.code is ErrorCode.VALIDATION_ERROR


def test_location_contact_and_poll_payloads_reach_the_network(linked):
    engine, _ = linked
    engine.send(OutgoingMessage(wa_id="LOC", to_jid=ALICE, kind=Kind.LOCATION, latitude=45.5, longitude=-73.6,
                                address="Montréal", text="Office"))
    engine.send(OutgoingMessage(wa_id="VCF", to_jid=ALICE, kind=Kind.CONTACT, contact_name="Bob",
                                vcard="BEGIN:VCARD\nFN:Bob\nEND:VCARD"))
    engine.send(OutgoingMessage(wa_id="POLL", to_jid=FALCON, kind=Kind.POLL, text="Lunch?",
                                poll_options=("Pizza", "Sushi"), poll_selectable_count=1))
    records = {r.wa_id: r.payload for r in sent(engine)}
    assert records["LOC"]["location"] == {"latitude": 45.5, "longitude": -73.6, "address": "Montréal",
                                          "name": "Office"}
    assert records["VCF"]["contact"]["name"] == "Bob"
    assert records["VCF"]["mediatype"] == "vcard"
    assert records["POLL"]["poll"] == {"name": "Lunch?", "options": ["Pizza", "Sushi"], "selectable_count": 1}
    assert records["POLL"]["type"] == "poll"


def test_sending_needs_a_connection(sim):
    engine, _ = sim.start()
    with pytest.raises(WhatsAppError) as failure:
        engine.send(OutgoingMessage(wa_id="X", to_jid=ALICE, text="hi"))
    assert failure.value.code is ErrorCode.MESSAGE_NOT_CONNECTED
    for call in (lambda: engine.react(ALICE, "X", ALICE, "👍", wa_id="R"), lambda: engine.set_presence(True),
                 lambda: engine.group_info(FAMILY), lambda: engine.is_on_whatsapp(["+15145550101"])):
        with pytest.raises(WhatsAppError) as failure:
            call()
        assert failure.value.code is ErrorCode.MESSAGE_NOT_CONNECTED
    assert not NetworkRecord.objects.exists()


def test_recipients_are_checked_as_whatsapp_checks_them(linked):
    engine, _ = linked
    cases = {LANDLINE: ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND,  # "no LID found for … from server"
             "19995550000@s.whatsapp.net": ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND,
             "999999999999999@lid": ErrorCode.MESSAGE_SEND_FAILED,  # 479 for a LID without mapping
             "120363000000000000@g.us": ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND,
             "status@broadcast": ErrorCode.VALIDATION_ERROR}
    for to, code in cases.items():
        with pytest.raises(WhatsAppError) as failure:
            engine.send(OutgoingMessage(wa_id=f"BAD-{to}", to_jid=to, text="hi"))
        assert failure.value.code is code, to
    assert not sent(engine).exists()


def test_a_member_cannot_post_to_an_announcement_group(linked):
    engine, _ = linked
    with pytest.raises(WhatsAppError) as failure:
        engine.send(OutgoingMessage(wa_id="NEWS1", to_jid=NEWS, text="hello all"))
    assert failure.value.code is ErrorCode.GROUP_POSTING_RESTRICTED
    # Reactions are not posts.
    engine.react(NEWS, "SOMEID", DEV, "👍", wa_id="NEWSR")
    assert sent(engine, "reaction").count() == 1


def test_a_group_send_gets_one_receipt_per_member(linked):
    engine, events = linked
    engine.send(OutgoingMessage(wa_id="G1", to_jid=FALCON, text="standup?"))
    members = {DEV, ALICE, FERNANDA}
    got = set()
    while got != members:
        receipt = events.wait_for(ReceiptReceived, lambda r: r.status == ReceiptStatus.DELIVERED)
        assert receipt.chat_jid == FALCON
        assert receipt.wa_ids == ("G1",)
        got.add(receipt.sender_jid)


def test_reactions_edits_revokes_and_read_receipts_are_recorded(linked):
    engine, _ = linked
    engine.react(ALICE, "IN1", ALICE, "❤️", wa_id="R1")
    engine.edit(ALICE, "OUT1", "fixed text", wa_id="E1")
    engine.revoke(FALCON, "IN2", DEV, wa_id="V1")  # someone else's message: an admin revoke
    engine.mark_read(ALICE, ALICE, ["IN1", "IN3"], timezone.now())
    engine.send_chat_state(ALICE, ChatState.RECORDING)
    engine.set_presence(False)
    assert sent(engine, "reaction").get().payload["emoji"] == "❤️"
    assert sent(engine, "edit").get().payload["text"] == "fixed text"
    assert sent(engine, "revoke").get().payload["edit"] == "8"
    assert sent(engine, "read").get().payload["wa_ids"] == ["IN1", "IN3"]
    assert sent(engine, "chat_state").get().payload["wire"] == {"state": "composing", "media": "audio"}
    assert sent(engine, "presence").get().payload == {"available": False, "name": "Owner"}
    with pytest.raises(WhatsAppError) as failure:
        engine.mark_read(FALCON, "", ["X"], timezone.now())
    assert failure.value.code is ErrorCode.VALIDATION_ERROR


def test_subscribing_to_presence_answers_with_the_current_state(linked):
    engine, events = linked
    engine.subscribe_presence(ALICE)
    presence = events.wait_for(PresenceChanged)
    assert presence.jid == ALICE
    assert presence.available is True


# --- incoming --------------------------------------------------------------------------------


def test_an_incoming_dm_by_phone_carries_both_addresses(linked):
    engine, events = linked
    result = act(engine, "message", {"from": "+1 514 555 0101", "text": "hi there", "id": "3AINCOMING1"})
    message = events.wait_for(MessageReceived).message
    assert (message.wa_id, message.chat_jid, message.sender_jid) == ("3AINCOMING1", ALICE, ALICE)
    assert (message.sender_phone_jid, message.sender_lid) == (ALICE, ALICE_LID)
    assert message.push_name == "Alice Martin"
    assert message.text == "hi there"
    assert not message.from_me
    assert result["wa_id"] == "3AINCOMING1"
    assert events.wait_for(IdentityLinked) == IdentityLinked(phone_jid=ALICE, lid=ALICE_LID)


def test_an_incoming_dm_by_lid_gives_a_lid_to_a_person_without_one(linked):
    engine, events = linked
    act(engine, "message", {"from": CHLOE, "lid": True, "text": "new addressing"})
    message = events.wait_for(MessageReceived).message
    assert message.sender_jid.endswith("@lid")
    assert message.chat_jid == message.sender_jid
    assert message.sender_phone_jid == CHLOE
    linked_ids = events.wait_for(IdentityLinked)
    assert linked_ids == IdentityLinked(phone_jid=CHLOE, lid=message.sender_lid)
    assert engine.lid_for_phone(CHLOE) == message.sender_lid
    assert engine.phone_for_lid(message.sender_lid) == CHLOE


def test_an_incoming_group_message_and_one_from_a_stranger_to_the_group(linked):
    engine, events = linked
    act(engine, "message", {"from": BOB, "group": FAMILY, "text": "dinner at 7", "quote": "3EB0QUOTED"})
    message = events.wait_for(MessageReceived).message
    assert message.is_group
    assert message.chat_jid == FAMILY
    assert message.sender_jid == BOB
    assert message.quoted_wa_id == "3EB0QUOTED"
    with pytest.raises(SimulationError, match="not a participant"):
        act(engine, "message", {"from": DEV, "group": FAMILY, "text": "let me in"})


def test_a_message_typed_on_the_own_phone_is_from_me(linked):
    engine, events = linked
    act(engine, "message", {"from_me": True, "to": ALICE, "text": "sent from my phone"})
    message = events.wait_for(MessageReceived).message
    assert message.from_me
    assert message.chat_jid == ALICE
    assert message.sender_jid == OWNER


def test_incoming_media_downloads_as_the_exact_bytes(linked):
    engine, events = linked
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    media = network.store_media(data, "image/png")
    act(engine, "message", {"from": ALICE, "kind": "image", "text": "look",
                            "media": {**media, "mime_type": "image/png", "file_name": "p.png"}})
    message = events.wait_for(MessageReceived).message
    assert message.kind == Kind.IMAGE
    assert message.text == "look"
    assert message.media.size == len(data)
    assert message.media.sha256 == hashlib.sha256(data).hexdigest()
    assert engine.download_media(message.media) == data
    network.expire_media(message.media.locator["blob"])
    with pytest.raises(WhatsAppError) as failure:
        engine.download_media(message.media)
    assert failure.value.code is ErrorCode.MEDIA_EXPIRED


def test_location_contact_and_poll_arrive_with_their_content(linked):
    engine, events = linked
    act(engine, "message", {"from": ALICE, "kind": "location",
                            "location": {"latitude": 1.5, "longitude": 2.5, "address": "", "name": "Here"}})
    act(engine, "message", {"from": ALICE, "kind": "poll",
                            "poll": {"name": "Q?", "options": ["a", "b"], "selectable_count": 1}})
    location = events.wait_for(MessageReceived).message
    poll = events.wait_for(MessageReceived).message
    assert location.kind == Kind.LOCATION
    assert location.content["latitude"] == 1.5
    assert poll.kind == Kind.POLL
    assert poll.content["options"] == ["a", "b"]


def test_reactions_edits_and_revokes_from_the_network(linked):
    engine, events = linked
    act(engine, "react", {"from": ALICE, "target": "OUT1", "emoji": "😂"})
    act(engine, "edit", {"from": ALICE, "target": "IN1", "text": "edited"})
    act(engine, "revoke", {"from": BOB, "group": FAMILY, "target": "IN2"})
    act(engine, "react", {"from_me": True, "to": ALICE, "target": "IN1", "emoji": ""})
    reaction = events.wait_for(ReactionReceived, lambda r: not r.from_me)
    assert (reaction.chat_jid, reaction.sender_jid, reaction.target_wa_id, reaction.emoji) == (ALICE, ALICE,
                                                                                                "OUT1", "😂")
    assert events.wait_for(MessageEdited).text == "edited"
    revoked = events.wait_for(MessageRevoked)
    assert (revoked.chat_jid, revoked.sender_jid) == (FAMILY, BOB)
    removal = events.wait_for(ReactionReceived, lambda r: r.from_me)
    assert removal.emoji == ""
    assert removal.sender_jid == OWNER


def test_receipts_presence_and_typing_from_the_network(linked):
    engine, events = linked
    engine.send(OutgoingMessage(wa_id="OUTG", to_jid=FAMILY, text="hey"))
    act(engine, "receipt", {"wa_ids": ["OUTG"], "status": "played", "from": "+15145550103"})
    played = events.wait_for(ReceiptReceived, lambda r: r.status == ReceiptStatus.PLAYED)
    assert (played.chat_jid, played.sender_jid, played.wa_ids) == (FAMILY, CHLOE, ("OUTG",))
    with pytest.raises(SimulationError, match="sent no message"):
        act(engine, "receipt", {"wa_ids": ["NOPE"], "status": "read"})

    act(engine, "presence", {"jid": BOB, "available": False})
    presence = events.wait_for(PresenceChanged)
    assert presence.jid == BOB
    assert not presence.available
    assert presence.last_seen is not None

    act(engine, "typing", {"from": DEV, "group": FALCON, "state": "recording"})
    typing = events.wait_for(ChatPresenceChanged)
    assert (typing.chat_jid, typing.sender_jid, typing.state) == (FALCON, DEV, ChatState.RECORDING)


def test_history_sync_brings_past_messages_oldest_first(linked):
    engine, events = linked
    result = act(engine, "history", {"count": 40, "progress": 60})
    batch = events.wait_for(HistoryBatch)
    assert len(batch.messages) == 40 == result["count"]
    assert batch.progress == 60
    stamps = [m.timestamp for m in batch.messages]
    assert stamps == sorted(stamps)
    assert stamps[-1] < timezone.now()
    assert stamps[0] > timezone.now() - timedelta(days=31)
    assert any(m.from_me for m in batch.messages)
    assert not all(m.from_me for m in batch.messages)
    assert all(m.sender_jid == OWNER for m in batch.messages if m.from_me)
    assert len({m.wa_id for m in batch.messages}) == 40


def test_messages_sent_to_an_offline_device_arrive_when_it_reconnects(linked):
    engine, events = linked
    engine.disconnect()
    held = act(engine, "message", {"from": ALICE, "text": "while you were away"})
    assert held["held"] is True
    act(engine, "typing", {"from": ALICE})  # live only: lost
    assert events.drain(0.15) == []
    engine.connect()
    events.wait_for(Connected)
    assert events.wait_for(MessageReceived).message.text == "while you were away"
    assert not [e for e in events.drain(0.15) if isinstance(e, ChatPresenceChanged)]


# --- groups ----------------------------------------------------------------------------------


def test_create_a_group_and_read_it_back(linked):
    engine, _ = linked
    info = engine.create_group("Book club", [ALICE, FERNANDA, "+15145550107"])
    me = next(p for p in info.participants if p.jid == OWNER)
    assert me.is_super_admin
    assert info.owner_jid == OWNER
    errors = {p.jid: p.error for p in info.participants if p.error}
    assert errors == {FERNANDA: 403, LANDLINE: 404}  # privacy settings; not on WhatsApp
    assert info.jid.startswith("120363")
    assert info.jid.endswith("@g.us")
    again = engine.group_info(info.jid)
    assert {p.jid for p in again.participants} == {OWNER, ALICE}
    assert info.jid in {g.jid for g in engine.joined_groups()}
    assert WorldGroup.objects.get(jid=info.jid).source == "engine"
    with pytest.raises(WhatsAppError) as failure:
        engine.create_group("x" * 26, [ALICE])
    assert failure.value.code is ErrorCode.VALIDATION_ERROR


def test_participant_changes_report_per_person_errors(linked):
    engine, _ = linked
    added = engine.update_participants(FALCON, [BOB, ALICE, FERNANDA], ParticipantAction.ADD)
    assert [p.error for p in added] == [0, 409, 409]
    promoted = engine.update_participants(FALCON, [BOB, CHLOE], ParticipantAction.PROMOTE)
    assert promoted[0].is_admin
    assert promoted[0].error == 0
    assert promoted[1].error == 404
    assert not engine.update_participants(FALCON, [BOB], ParticipantAction.DEMOTE)[0].is_admin
    engine.update_participants(FALCON, [BOB], ParticipantAction.REMOVE)
    assert BOB not in {p.jid for p in engine.group_info(FALCON).participants}
    with pytest.raises(WhatsAppError) as failure:  # a plain member of Family
        engine.update_participants(FAMILY, [DEV], ParticipantAction.ADD)
    assert failure.value.code is ErrorCode.FORBIDDEN


def test_invite_links_are_stable_until_reset_and_join_leave(linked, sim):
    engine, _ = linked
    link = engine.group_invite_link(FALCON)
    assert link == engine.group_invite_link(FALCON)
    code = link.removeprefix("https://chat.whatsapp.com/")
    assert len(code) == 22
    assert code.isalnum()
    new_link = engine.group_invite_link(FALCON, reset=True)
    assert new_link != link

    other, _ = sim.linked(phone="+15145550199", name="Other")
    with pytest.raises(WhatsAppError) as revoked:
        other.join_group(link)
    assert revoked.value.code is ErrorCode.NOT_FOUND
    assert revoked.value.details["iq_error"] == 410
    assert other.join_group(new_link) == FALCON
    assert "15145550199@s.whatsapp.net" in {p.jid for p in engine.group_info(FALCON).participants}
    other.leave_group(FALCON)
    with pytest.raises(WhatsAppError) as gone:
        other.group_info(FALCON)
    assert gone.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(WhatsAppError) as not_admin:
        engine.group_invite_link(FAMILY)
    assert not_admin.value.code is ErrorCode.FORBIDDEN


def test_name_and_topic_changes_respect_locked_groups(linked):
    engine, _ = linked
    engine.set_group_name(FAMILY, "Famille")
    engine.set_group_topic(FAMILY, "Dimanche")
    info = engine.group_info(FAMILY)
    assert (info.name, info.topic) == ("Famille", "Dimanche")
    with pytest.raises(WhatsAppError) as failure:
        engine.set_group_topic(NEWS, "mine now")  # locked, and we are a plain member
    assert failure.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(WhatsAppError) as unknown:
        engine.group_info("120363000000000001@g.us")
    assert unknown.value.code is ErrorCode.NOT_FOUND


# --- contacts --------------------------------------------------------------------------------


def test_contact_lookups_come_from_the_world(linked):
    engine, events = linked
    answers = engine.is_on_whatsapp(["+1 514 555 0101", "+15145550107", "+19995550000"])
    assert [(a.jid, a.is_on_whatsapp) for a in answers] == [
        (ALICE, True), (LANDLINE, False), ("19995550000@s.whatsapp.net", False)]
    [info] = engine.user_info([ALICE_LID, LANDLINE])
    assert (info.jid, info.phone_jid, info.lid, info.status) == (ALICE_LID, ALICE, ALICE_LID, "Available")
    picture = engine.profile_picture(ALICE)
    assert picture.picture_id == "1729384756"
    assert picture.url.startswith("https://")
    assert engine.profile_picture(BOB) is None
    assert engine.lid_for_phone(ALICE) == ALICE_LID
    assert engine.phone_for_lid(ALICE_LID) == ALICE
    assert engine.lid_for_phone(CHLOE) == ""
    assert engine.phone_for_lid("1@lid") == ""
    assert engine.is_on_whatsapp(["+14155550188"])[0].verified_name == "Acme Inc."
    assert events.wait_for(IdentityLinked).phone_jid == ALICE
