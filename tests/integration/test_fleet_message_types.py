"""Every message kind end to end, both ways: the test process calls ``send_message`` (as the REST API
and MCP server do), a real fleet runs the device's runner with the simulator engine, ``simulate sent``
shows what reached the (simulated) WhatsApp network, and ``simulate message|react|edit|revoke|history``
play the other side. Nothing is mocked; every hop crosses a process boundary through the database."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import pytest
from django.db.models import Q

from tests.integration import test_fleet_runtime as runtime
from tests.integration.test_fleet_runtime import PEER, connected_device, event_types, refreshed, simulate
from tests.support.processes import wait_until
from whatsapp.engine.base import Kind
from whatsapp.models import Chat, Contact, DeliveryStatus, Device, DeviceEvent, Direction, EventType, Message, Reaction
from whatsapp.services.messages import Outgoing, send_message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# The runtime tests' fixtures (a real fleet on PostgreSQL, the simulator engine), shared by name.
gateway_env = runtime.gateway_env
fleet = runtime.fleet

ALICE = "15145550101@s.whatsapp.net"
ALICE_LID = "118207457280017@lid"  # Alice's twin in the simulator's fixture world
BOB = "15145550102@s.whatsapp.net"
FAMILY = "120363041234567890@g.us"  # Alice (owner), Bob and Chloé; every linked account joins as a member
SETTLED = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ)
VCARD = "BEGIN:VCARD\nVERSION:3.0\nFN:Bob Tremblay\nTEL;type=CELL;waid=15145550102:+1 514 555 0102\nEND:VCARD"


def png_bytes(width: int = 3, height: int = 2) -> bytes:
    """A real (tiny, red) PNG: signature, IHDR, zlib-compressed IDAT, IEND, each chunk with its CRC."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sent(env: dict[str, str], device: Device, kind: str) -> list[dict]:
    return simulate(env, "sent", str(device.pk), "--kind", kind)


def deliver(env: dict[str, str], device: Device, *args: str) -> Message:
    """``simulate message …``, then the message as the runner stored it."""
    result = simulate(env, "message", str(device.pk), *args)
    return wait_until(lambda: Message.objects.filter(device=device, wa_id=result["wa_id"]).first(), 15,
                      what=f"message {args} stored")


def events_of(device: Device, type_: str) -> list[dict]:
    return list(DeviceEvent.objects.filter(device=device, type=type_).order_by("sequence")
                .values_list("payload", flat=True))


def test_send_every_kind_end_to_end(gateway_env, fleet):
    device = connected_device(gateway_env)
    png = png_bytes()
    video = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(300)
    voice = b"OggS\x00\x02" + os.urandom(200)
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    webp = b"RIFF\x24\x00\x00\x00WEBPVP8 " + os.urandom(40)

    text = send_message(device, Outgoing(to=PEER, text="plain text ✓"))
    outgoing = {
        "image": Outgoing(to=PEER, kind=Kind.IMAGE, media=png, mime_type="image/png", text="a red square"),
        "video": Outgoing(to=PEER, kind=Kind.VIDEO, media=video, mime_type="video/mp4", text="a clip"),
        "audio": Outgoing(to=PEER, kind=Kind.AUDIO, media=voice, mime_type="audio/ogg", ptt=True),
        "document": Outgoing(to=PEER, kind=Kind.DOCUMENT, media=pdf, mime_type="application/pdf",
                             file_name="report.pdf", text="the report"),
        "sticker": Outgoing(to=PEER, kind=Kind.STICKER, media=webp, mime_type="image/webp"),
        "contact": Outgoing(to=PEER, kind=Kind.CONTACT, contact_name="Bob Tremblay", vcard=VCARD),
        "location": Outgoing(to=PEER, kind=Kind.LOCATION, latitude=45.5017, longitude=-73.5673,
                             address="Old Port, Montréal"),
        "poll": Outgoing(to=PEER, kind=Kind.POLL, text="Lunch?", poll_options=("Pizza", "Sushi", "Salad")),
        "reply": Outgoing(to=PEER, text="answering that", quoted_wa_id=text.wa_id),
    }
    messages = {"text": text} | {name: send_message(device, out) for name, out in outgoing.items()}

    for name, message in messages.items():
        assert message.status in SETTLED, (name, message.status, message.error_code)
        assert message.sent_at is not None, name
        assert message.type == (Kind.TEXT if name in ("text", "reply") else name), name

    records = sent(gateway_env, device, "send")
    assert sorted(r["wa_id"] for r in records) == sorted(m.wa_id for m in messages.values())  # each exactly once
    network = {name: next(r for r in records if r["wa_id"] == m.wa_id) for name, m in messages.items()}
    for name, record in network.items():
        assert (record["chat_jid"], record["payload"]["to"]) == (ALICE, ALICE), name
        assert record["payload"]["kind"] == ("text" if name in ("text", "reply") else name), name

    assert network["text"]["payload"]["text"] == "plain text ✓"
    assert "quoted" not in network["text"]["payload"]

    media = {"image": (png, "image/png", "image"), "video": (video, "video/mp4", "video"),
             "audio": (voice, "audio/ogg", "ptt"), "document": (pdf, "application/pdf", "document"),
             "sticker": (webp, "image/webp", "sticker")}
    for name, (data, mime, mediatype) in media.items():
        payload = network[name]["payload"]
        assert (payload["type"], payload["mediatype"]) == ("media", mediatype), name
        assert (payload["media"]["mime_type"], payload["media"]["size"], payload["media"]["sha256"]) == (
            mime, len(data), sha256(data)), name
        assert payload["caption"] == outgoing[name].text, name
        stored = messages[name]
        assert (stored.media_mime_type, stored.media_size, stored.media_sha256) == (mime, len(data), sha256(data))
        assert (Path(gateway_env["MEDIA_ROOT"]) / stored.media_file.path).read_bytes() == data, name
    assert network["audio"]["payload"]["media"]["ptt"] is True
    assert messages["audio"].media_ptt is True
    assert network["image"]["payload"]["media"]["ptt"] is False
    assert network["document"]["payload"]["media"]["file_name"] == "report.pdf"

    assert network["contact"]["payload"]["contact"] == {"name": "Bob Tremblay", "vcard": VCARD}
    location = network["location"]["payload"]["location"]
    assert (location["latitude"], location["longitude"], location["address"]) == (
        45.5017, -73.5673, "Old Port, Montréal")
    poll = network["poll"]["payload"]["poll"]
    assert (poll["name"], poll["options"]) == ("Lunch?", ["Pizza", "Sushi", "Salad"])
    reply = network["reply"]["payload"]
    assert (reply["text"], reply["quoted"]["wa_id"]) == ("answering that", text.wa_id)
    assert messages["reply"].quoted_wa_id == text.wa_id

    chat = Chat.objects.get(device=device, jid=ALICE)
    assert chat.unread_count == 0  # our own messages are never unread
    assert chat.last_message_preview == "answering that"


def test_a_reply_tells_the_network_who_wrote_the_quoted_message(gateway_env, fleet):
    """WhatsApp's ``contextInfo`` of a reply carries the quoted message's id *and* its author
    (``participant``); the port has ``quoted_sender_jid`` for it, and the store knows the author."""
    device = connected_device(gateway_env)
    theirs = deliver(gateway_env, device, "--from", PEER, "--text", "are you coming?")
    mine = send_message(device, Outgoing(to=PEER, text="maybe"))
    to_theirs = send_message(device, Outgoing(to=PEER, text="yes!", quoted_wa_id=theirs.wa_id))
    to_mine = send_message(device, Outgoing(to=PEER, text="I mean yes", quoted_wa_id=mine.wa_id))
    assert {to_theirs.status, to_mine.status} <= set(SETTLED)

    quotes = {r["wa_id"]: r["payload"]["quoted"] for r in sent(gateway_env, device, "send") if "quoted" in r["payload"]}
    assert quotes[to_theirs.wa_id] == {"wa_id": theirs.wa_id, "sender_jid": ALICE}
    assert quotes[to_mine.wa_id] == {"wa_id": mine.wa_id, "sender_jid": refreshed(device).phone_jid}


def test_receive_every_kind_with_its_content_and_media(gateway_env, fleet, tmp_path):
    device = connected_device(gateway_env)

    text = deliver(gateway_env, device, "--from", PEER, "--text", "hello there")
    assert (text.type, text.body, text.direction, text.from_me) == ("text", "hello there", Direction.INBOUND, False)
    assert (text.chat.jid, text.sender_jid, text.sender_phone_jid) == (ALICE, ALICE, ALICE)

    png = png_bytes(4, 4)
    picture = tmp_path / "photo.png"
    picture.write_bytes(png)
    image = deliver(gateway_env, device, "--from", PEER, "--kind", "image", "--file", str(picture),
                    "--text", "look at this")
    assert (image.type, image.body) == ("image", "look at this")
    assert (image.media_mime_type, image.media_size, image.media_sha256, image.media_file_name) == (
        "image/png", len(png), sha256(png), "photo.png")
    assert {"blob", "direct_path", "media_key"} <= set(image.media_info)  # enough to download it again

    location = deliver(gateway_env, device, "--from", PEER, "--kind", "location", "--lat", "45.5017",
                       "--lon", "-73.5673", "--address", "Old Port, Montréal", "--place", "Old Port")
    assert location.type == "location"
    assert location.content == {"latitude": 45.5017, "longitude": -73.5673, "address": "Old Port, Montréal",
                                "name": "Old Port"}

    contact = deliver(gateway_env, device, "--from", PEER, "--kind", "contact", "--contact-name", "Bob Tremblay",
                      "--vcard", VCARD)
    assert contact.type == "contact"
    assert contact.content == {"name": "Bob Tremblay", "vcard": VCARD}

    poll = deliver(gateway_env, device, "--from", PEER, "--kind", "poll", "--text", "Lunch?", "--option", "Pizza",
                   "--option", "Sushi")
    assert (poll.type, poll.body) == ("poll", "Lunch?")
    assert poll.content["options"] == ["Pizza", "Sushi"]

    reply = deliver(gateway_env, device, "--from", PEER, "--text", "about that…", "--quote", text.wa_id)
    assert (reply.type, reply.body, reply.quoted_wa_id) == ("text", "about that…", text.wa_id)

    assert Chat.objects.get(device=device, jid=ALICE).unread_count == 6
    stored = events_of(device, EventType.MESSAGE)
    assert [e["message_id"] for e in stored] == [m.wa_id for m in (text, image, location, contact, poll, reply)]
    assert stored[1]["sha256"] == sha256(png)

    # WhatsApp addresses Alice by her LID this time: both addresses are kept and the twins are one contact.
    by_lid = deliver(gateway_env, device, "--from", PEER, "--lid", "--text", "from my lid")
    assert (by_lid.chat.jid, by_lid.sender_jid) == (ALICE_LID, ALICE_LID)
    assert (by_lid.sender_phone_jid, by_lid.sender_lid) == (ALICE, ALICE_LID)
    [person] = Contact.objects.filter(Q(phone_jid=ALICE) | Q(lid=ALICE_LID), device=device)
    assert (person.phone_jid, person.lid) == (ALICE, ALICE_LID)
    chats = Chat.objects.filter(device=device, jid__in=[ALICE, ALICE_LID])
    assert {c.jid: c.contact_id for c in chats} == {ALICE: person.pk, ALICE_LID: person.pk}


def test_group_messages_own_phone_messages_and_history(gateway_env, fleet):
    device = connected_device(gateway_env)

    in_group = deliver(gateway_env, device, "--group", FAMILY, "--from", PEER, "--text", "dinner on Sunday?")
    assert (in_group.chat.jid, in_group.chat.kind) == (FAMILY, "group")
    assert (in_group.sender_jid, in_group.sender_phone_jid, in_group.from_me) == (ALICE, ALICE, False)
    assert Chat.objects.get(device=device, jid=FAMILY).unread_count == 1
    assert not Chat.objects.filter(device=device, jid=ALICE).exists()  # not the member's direct chat

    own = deliver(gateway_env, device, "--from-me", "--to", PEER, "--text", "typed on my phone")
    device.refresh_from_db()
    assert (own.chat.jid, own.from_me, own.direction, own.status) == (ALICE, True, Direction.OUTBOUND, "sent")
    assert own.sender_jid == device.phone_jid
    assert own.is_unread is False
    assert Chat.objects.get(device=device, jid=ALICE).unread_count == 0

    unread_before = dict(Chat.objects.filter(device=device).values_list("jid", "unread_count"))
    live = set(Message.objects.filter(device=device).values_list("pk", flat=True))
    result = simulate(gateway_env, "history", str(device.pk), "--count", "5")
    assert result["count"] == 5
    def history_batch() -> list[Message]:
        batch = list(Message.objects.filter(device=device).exclude(pk__in=live))
        return batch if len(batch) >= 5 else []

    history = wait_until(history_batch, 15, what="history batch stored")
    assert len(history) == 5
    assert all(m.from_history for m in history)
    assert not any(m.is_unread for m in history)
    unread_after = dict(Chat.objects.filter(device=device).values_list("jid", "unread_count"))
    assert unread_after == {jid: unread_before.get(jid, 0) for jid in unread_after}
    assert [e["from_history"] for e in events_of(device, EventType.MESSAGE)[-5:]] == [True] * 5


def test_reactions_edits_and_revokes_from_the_network(gateway_env, fleet):
    device = connected_device(gateway_env)
    dev = str(device.pk)
    incoming = deliver(gateway_env, device, "--from", PEER, "--text", "lunch at noon?")
    mine = send_message(device, Outgoing(to=PEER, text="sure"))
    assert mine.status in SETTLED

    simulate(gateway_env, "react", dev, mine.wa_id, "❤️", "--from", PEER)
    reaction = wait_until(lambda: Reaction.objects.filter(message=mine).first(), 15, what="reaction stored")
    assert (reaction.sender_jid, reaction.emoji) == (ALICE, "❤️")
    simulate(gateway_env, "react", dev, mine.wa_id, "", "--from", PEER)
    wait_until(lambda: not Reaction.objects.filter(message=mine).exists(), 15, what="reaction removed")
    reactions = events_of(device, EventType.REACTION)
    assert [(r["message_id"], r["sender_jid"], r["emoji"], r["removed"]) for r in reactions] == [
        (mine.wa_id, ALICE, "❤️", False), (mine.wa_id, ALICE, "", True)]

    simulate(gateway_env, "edit", dev, incoming.wa_id, "--text", "lunch at one?", "--from", PEER)
    wait_until(lambda: Message.objects.get(pk=incoming.pk).edited_at is not None, 15, what="edit stored")
    incoming.refresh_from_db()
    assert incoming.body == "lunch at one?"
    [edited] = events_of(device, EventType.MESSAGE_EDITED)
    assert (edited["message_id"], edited["text"], edited["sender_jid"]) == (incoming.wa_id, "lunch at one?", ALICE)

    simulate(gateway_env, "revoke", dev, incoming.wa_id, "--from", PEER)
    wait_until(lambda: Message.objects.get(pk=incoming.pk).revoked_at is not None, 15, what="revoke stored")
    [revoked] = events_of(device, EventType.MESSAGE_REVOKED)
    assert (revoked["message_id"], revoked["chat_jid"], revoked["is_from_me"]) == (incoming.wa_id, ALICE, False)

    types = event_types(device)
    assert types.index(EventType.REACTION) < types.index(EventType.MESSAGE_EDITED) < types.index(
        EventType.MESSAGE_REVOKED)
