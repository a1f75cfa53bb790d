"""What the adapter hands the (fake) Go core, and how the Go errors it gets back are classified.

The fake FFI object (conftest ``FakeGo``, neonize-notes §4.2) records the serialized JIDs and
``waE2E.Message`` protobufs neonize passes to ``SendMessage``/``Upload``/…; neonize's own Python
(``send_message``, ``upload``, ``mark_read``…) runs for real in between.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from conftest import OWN_LID, OWN_PHONE, E, N, jid, wait_for

from whatsapp.engine.base import (
    ChatState,
    ConnectionLost,
    GroupInfo,
    GroupParticipant,
    IdentityLinked,
    Kind,
    MediaRef,
    OnWhatsApp,
    OutgoingMessage,
    ParticipantAction,
    ProfilePicture,
    SendResult,
    UserInfo,
)
from whatsapp.errors import ErrorCode, WhatsAppError

ALICE = "15551234567@s.whatsapp.net"
GROUP = "120363000000000001@g.us"


def out(kind: Kind = Kind.TEXT, **fields: Any) -> OutgoingMessage:
    return OutgoingMessage(wa_id="GW-CHOSEN-ID", to_jid=fields.pop("to_jid", ALICE), kind=kind, **fields)


def png(width: int = 320, height: int = 240) -> bytes:
    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def last_sent(h: Any) -> tuple[N.JID, E.Message]:
    return h.fake.sent[-1]


# --- text and ids ----------------------------------------------------------------------------------


def test_text_is_a_plain_conversation_and_the_id_is_whatsmeows(online: Any) -> None:
    result = online.engine.send(out(text="hello"))
    to, sent = last_sent(online)
    assert (to.User, to.Server, to.Device) == ("15551234567", "s.whatsapp.net", 0)
    assert sent == E.Message(conversation="hello")
    # neonize's SendMessage FFI takes no id: the caller's id cannot be used, whatsmeow's is reported
    assert result == SendResult(wa_id="3EB0FAKE0001", timestamp=datetime.fromtimestamp(1_750_000_000, UTC))


def test_quoted_reply_carries_id_author_and_content(online: Any) -> None:
    online.dispatch(N.Message(
        Info=N.MessageInfo(MessageSource=N.MessageSource(Chat=jid("15551234567"), Sender=jid("15551234567", device=2),
                                                         IsFromMe=False, IsGroup=False),
                           ID="3EB0INBOUND", Timestamp=1_700_000_000, Pushname="Alice"),
        Message=E.Message(extendedTextMessage=E.ExtendedTextMessage(
            text="original", contextInfo=E.ContextInfo(stanzaID="OLDER")))))
    online.settle()
    online.engine.send(out(text="answer", quoted_wa_id="3EB0INBOUND"))
    _, sent = last_sent(online)
    context = sent.extendedTextMessage.contextInfo
    assert (sent.extendedTextMessage.text, context.stanzaID, context.participant) == (
        "answer", "3EB0INBOUND", ALICE)
    assert context.quotedMessage.extendedTextMessage.text == "original"
    assert not context.quotedMessage.extendedTextMessage.HasField("contextInfo")  # one level of quoting
    online.engine.send(out(text="in group", to_jid=GROUP, quoted_wa_id="UNSEEN",
                           quoted_sender_jid="15557654321:3@s.whatsapp.net"))
    _, sent = last_sent(online)
    context = sent.extendedTextMessage.contextInfo
    assert (context.stanzaID, context.participant, context.HasField("quotedMessage")) == (
        "UNSEEN", "15557654321@s.whatsapp.net", False)


# --- media -------------------------------------------------------------------------------------------


def test_image_from_bytes(online: Any) -> None:
    data = png()
    online.engine.send(out(Kind.IMAGE, text="a red box", media=data))
    assert online.fake.uploads == [(data, 0)]  # MediaImage
    _, sent = last_sent(online)
    image = sent.imageMessage
    assert (image.URL, image.directPath, image.mediaKey, image.fileSHA256, image.fileEncSHA256) == (
        "https://mmg.whatsapp.net/fake", "/v/fake.enc", b"k" * 32, b"s" * 32, b"e" * 32)
    assert (image.fileLength, image.mimetype, image.caption, image.width, image.height) == (
        len(data), "image/png", "a red box", 320, 240)  # MIME sniffed with libmagic
    assert image.JPEGThumbnail.startswith(b"\xff\xd8")


@pytest.mark.parametrize(("kind", "fields", "media_type", "check"), [
    (Kind.AUDIO, {"mime_type": "audio/ogg", "ptt": True}, 2,
     lambda m: (m.audioMessage.PTT, m.audioMessage.mimetype) == (True, "audio/ogg; codecs=opus")),
    (Kind.AUDIO, {"mime_type": "audio/mpeg"}, 2,
     lambda m: (m.audioMessage.PTT, m.audioMessage.mimetype) == (False, "audio/mpeg")),
    (Kind.VIDEO, {"mime_type": "video/mp4", "text": "clip"}, 1,
     lambda m: (m.videoMessage.mimetype, m.videoMessage.caption) == ("video/mp4", "clip")),
    (Kind.DOCUMENT, {"mime_type": "application/pdf", "file_name": "q3.pdf", "text": "report"}, 3,
     lambda m: (m.documentMessage.fileName, m.documentMessage.title, m.documentMessage.mimetype,
                m.documentMessage.caption) == ("q3.pdf", "q3.pdf", "application/pdf", "report")),
    (Kind.STICKER, {}, 0, lambda m: m.stickerMessage.mimetype == "image/webp"),
])
def test_other_media(online: Any, kind: Kind, fields: dict[str, Any], media_type: int, check: Any) -> None:
    online.engine.send(out(kind, media=b"\x00binary\x01payload", **fields))
    assert online.fake.uploads[-1] == (b"\x00binary\x01payload", media_type)
    _, sent = last_sent(online)
    assert check(sent), sent
    assert online.fake.sent[-1][1].ListFields()[0][1].directPath == "/v/fake.enc"


def test_media_needs_bytes_never_a_url(online: Any) -> None:
    with pytest.raises(WhatsAppError) as caught:
        online.engine.send(out(Kind.IMAGE, text="https://example.com/cat.jpg"))
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert online.fake.uploads == []
    assert online.fake.sent == []


def test_media_reply_puts_the_quote_on_the_media(online: Any) -> None:
    online.engine.send(out(Kind.DOCUMENT, media=b"%PDF-1.4", mime_type="application/pdf", quoted_wa_id="Q1",
                           quoted_sender_jid=ALICE))
    assert last_sent(online)[1].documentMessage.contextInfo.stanzaID == "Q1"


# --- contact, location, poll ----------------------------------------------------------------------------


def test_contact_location_poll(online: Any) -> None:
    vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Bob\nEND:VCARD"
    online.engine.send(out(Kind.CONTACT, contact_name="Bob", vcard=vcard))
    assert last_sent(online)[1] == E.Message(contactMessage=E.ContactMessage(displayName="Bob", vcard=vcard))
    online.engine.send(out(Kind.LOCATION, latitude=-6.2, longitude=106.8, text="Monas", address="Jakarta"))
    assert last_sent(online)[1] == E.Message(locationMessage=E.LocationMessage(
        degreesLatitude=-6.2, degreesLongitude=106.8, name="Monas", address="Jakarta"))
    online.engine.send(out(Kind.POLL, text="Lunch?", poll_options=("Pizza", "Sushi", "Salad"), poll_selectable_count=2))
    sent = last_sent(online)[1]
    poll = sent.pollCreationMessage
    assert (poll.name, [o.optionName for o in poll.options], poll.selectableOptionsCount) == (
        "Lunch?", ["Pizza", "Sushi", "Salad"], 2)
    assert len(sent.messageContextInfo.messageSecret) == 32  # votes are encrypted with it


@pytest.mark.parametrize("bad", [
    out(Kind.POLL, text="one?", poll_options=("only",)),
    out(Kind.POLL, text="dup?", poll_options=("a", "a")),
    out(Kind.LOCATION, latitude=1.0),
    out(Kind.CONTACT),
    out(Kind.UNKNOWN, text="?"),
])
def test_invalid_messages_are_refused_before_sending(online: Any, bad: OutgoingMessage) -> None:
    with pytest.raises(WhatsAppError) as caught:
        online.engine.send(bad)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert online.fake.sent == []


# --- reactions, edits, revokes ---------------------------------------------------------------------------


def test_reaction_keys(online: Any) -> None:
    online.engine.react(ALICE, "3EB0THEIRS", ALICE, "👍", wa_id="x")
    reaction = last_sent(online)[1].reactionMessage
    assert (reaction.key.remoteJID, reaction.key.fromMe, reaction.key.ID, reaction.key.participant, reaction.text) == (
        ALICE, False, "3EB0THEIRS", "", "👍")
    assert abs(reaction.senderTimestampMS / 1000 - time.time()) < 5
    online.engine.react(GROUP, "3EB0MEMBER", "15557654321:2@s.whatsapp.net", "", wa_id="x")  # "" removes it
    reaction = last_sent(online)[1].reactionMessage
    assert (reaction.key.fromMe, reaction.key.participant, reaction.text) == (False, "15557654321@s.whatsapp.net", "")
    online.engine.react(GROUP, "3EB0MINE", f"{OWN_PHONE}:12@s.whatsapp.net", "❤️", wa_id="x")
    assert last_sent(online)[1].reactionMessage.key.fromMe is True
    online.engine.react(GROUP, "3EB0MINE2", f"{OWN_LID}@lid", "❤️", wa_id="x")
    assert last_sent(online)[1].reactionMessage.key.fromMe is True


def test_edit_and_revoke(online: Any) -> None:
    online.engine.edit(ALICE, "3EB0MINE", "fixed", wa_id="x")
    protocol = last_sent(online)[1].editedMessage.message.protocolMessage
    assert (protocol.type, protocol.key.ID, protocol.key.fromMe, protocol.key.remoteJID,
            protocol.editedMessage.conversation) == (E.ProtocolMessage.MESSAGE_EDIT, "3EB0MINE", True, ALICE, "fixed")
    online.engine.revoke(ALICE, "3EB0MINE", "", wa_id="x")
    protocol = last_sent(online)[1].protocolMessage
    assert (protocol.type, protocol.key.ID, protocol.key.fromMe) == (E.ProtocolMessage.REVOKE, "3EB0MINE", True)
    online.engine.revoke(GROUP, "3EB0SPAM", "15557654321@s.whatsapp.net", wa_id="x")  # admin revoke
    key = last_sent(online)[1].protocolMessage.key
    assert (key.fromMe, key.participant) == (False, "15557654321@s.whatsapp.net")


def test_nothing_is_built_or_sent_before_login(harness: Any) -> None:
    """The get_me() abort guard: no Go-backed builder runs on an unregistered client."""
    h = harness()
    for call in (lambda: h.engine.react(ALICE, "A", ALICE, "👍", wa_id="x"),
                 lambda: h.engine.edit(ALICE, "A", "t", wa_id="x"),
                 lambda: h.engine.revoke(ALICE, "A", "", wa_id="x"),
                 lambda: h.engine.send(out(text="hi")),
                 lambda: h.engine.create_group("g", []),
                 lambda: h.engine.mark_read(ALICE, ALICE, ["A"], datetime.now(UTC)),
                 lambda: h.engine.lid_for_phone(ALICE)):
        with pytest.raises(WhatsAppError) as caught:
            call()
        assert caught.value.code is ErrorCode.MESSAGE_NOT_CONNECTED
    assert h.fake.calls == []
    assert h.fake.sent == []
    assert not h.engine.is_connected()


def test_disconnect_then_calls_refuse(online: Any) -> None:
    online.engine.disconnect()
    assert online.fake.calls_named("Disconnect")
    assert online.fake.calls_named("Stop")
    assert not online.engine.is_connected()
    with pytest.raises(WhatsAppError) as caught:
        online.engine.send(out(text="late"))
    assert caught.value.code is ErrorCode.MESSAGE_NOT_CONNECTED


# --- errors returned by Go ------------------------------------------------------------------------------


@pytest.mark.parametrize(("to", "go_error", "expected"), [
    (ALICE, "server returned error 479", ErrorCode.MESSAGE_SEND_FAILED),
    (ALICE, "server returned error 463", ErrorCode.PROVIDER_RATE_LIMITED),
    (GROUP, "server returned error 406", ErrorCode.GROUP_POSTING_RESTRICTED),
    (GROUP, "failed to get group members: info query returned status 429: rate-overlimit",
     ErrorCode.PROVIDER_RATE_LIMITED),
    (GROUP, "failed to get group members: info query returned status 406: not-acceptable",
     ErrorCode.GROUP_POSTING_RESTRICTED),
    (GROUP, "failed to get group members: info query timed out", ErrorCode.GROUP_PREKEY_TIMEOUT),
    (ALICE, "timed out waiting for message send response", ErrorCode.CONNECTION_TIMEOUT),
    (ALICE, "websocket not connected", ErrorCode.MESSAGE_NOT_CONNECTED),
    (ALICE, "no LID found for 15551234567@s.whatsapp.net from server", ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND),
])
def test_send_errors(online: Any, to: str, go_error: str, expected: ErrorCode) -> None:
    online.fake.errors["SendMessage"] = go_error
    with pytest.raises(WhatsAppError) as caught:
        online.engine.send(out(text="hi", to_jid=to))
    assert caught.value.code is expected
    assert caught.value.details["whatsapp_error"] == go_error


def test_upload_error(online: Any) -> None:
    online.fake.errors["Upload"] = "upload failed with status code 413"
    with pytest.raises(WhatsAppError) as caught:
        online.engine.send(out(Kind.IMAGE, media=png()))
    assert caught.value.code is ErrorCode.MEDIA_TOO_LARGE
    assert online.fake.sent == []


# --- receipts, presence, media download -----------------------------------------------------------------


def test_mark_read_presence_chat_state_subscribe(online: Any) -> None:
    stamp = datetime.fromtimestamp(1_700_000_123, UTC)
    online.engine.mark_read(GROUP, "15557654321@s.whatsapp.net", ["A1", "A2"], stamp)
    ids, ts, chat, _, sender, _, receipt = online.fake.calls_named("MarkRead")[-1][1:]
    assert (ids, ts, N.JID.FromString(chat).User, N.JID.FromString(sender).User, receipt) == (
        b"A1 A2", 1_700_000_123, "120363000000000001", "15557654321", b"read")
    online.engine.mark_read(ALICE, "", ["A3"], stamp)  # a DM: the sender is the chat
    assert N.JID.FromString(online.fake.calls_named("MarkRead")[-1][5]).User == "15551234567"
    online.engine.set_presence(True)
    online.engine.set_presence(False)
    assert [c[1] for c in online.fake.calls_named("SendPresence")] == [b"available", b"unavailable"]
    for state in (ChatState.COMPOSING, ChatState.RECORDING, ChatState.PAUSED):
        online.engine.send_chat_state(ALICE, state)
    assert [c[3:] for c in online.fake.calls_named("SendChatPresence")] == [(0, 0), (0, 1), (1, 0)]
    online.engine.subscribe_presence(ALICE)
    assert N.JID.FromString(online.fake.calls_named("SubscribePresence")[-1][1]).User == "15551234567"
    online.fake.errors["SendPresence"] = "can't send presence without PushName set"
    with pytest.raises(WhatsAppError):
        online.engine.set_presence(True)


def test_download_media_from_an_inbound_locator(online: Any) -> None:
    online.dispatch(N.Message(
        Info=N.MessageInfo(MessageSource=N.MessageSource(Chat=jid("15551234567"), Sender=jid("15551234567"),
                                                         IsFromMe=False, IsGroup=False), ID="IMG", Timestamp=1),
        Message=E.Message(imageMessage=E.ImageMessage(
            mimetype="image/jpeg", directPath="/v/t62/x.enc", mediaKey=b"\1" * 32, fileSHA256=b"\2" * 32,
            fileEncSHA256=b"\3" * 32, fileLength=1234))))
    (event,) = online.settle()
    assert online.engine.download_media(event.message.media) == b"plain bytes"
    args = online.fake.calls_named("DownloadMediaWithPath")[-1]
    assert args[1:] == (b"/v/t62/x.enc", b"\3" * 32, 32, b"\2" * 32, 32, b"\1" * 32, 32, 1234, 0, b"image")
    online.fake.errors["Download"] = "download failed with status code 410"
    with pytest.raises(WhatsAppError) as caught:
        online.engine.download_media(event.message.media)
    assert caught.value.code is ErrorCode.MEDIA_EXPIRED
    with pytest.raises(WhatsAppError) as caught:
        online.engine.download_media(MediaRef(mime_type="image/jpeg"))
    assert caught.value.code is ErrorCode.NO_MEDIA


# --- groups and contacts -----------------------------------------------------------------------------------


def test_groups(online: Any) -> None:
    info = online.engine.create_group("Team", ["15551110000@s.whatsapp.net", "15552220000@s.whatsapp.net"])
    request = online.fake.calls_named("CreateGroup")[-1][0]
    assert (request.name, [p.User for p in request.Participants]) == ("Team", ["15551110000", "15552220000"])
    assert info == GroupInfo(
        jid=GROUP, name="Team", topic="Plans", owner_jid="15551110000@s.whatsapp.net",
        created_at=datetime.fromtimestamp(1_700_000_000, UTC), is_announce=True, is_locked=False,
        participants=(GroupParticipant(jid="88000111@lid", phone_jid="15551110000@s.whatsapp.net", lid="88000111@lid",
                                       is_admin=True, is_super_admin=True),))
    assert online.settle() == [IdentityLinked(phone_jid="15551110000@s.whatsapp.net", lid="88000111@lid")]
    assert online.engine.group_info(GROUP).name == "Team"
    assert [g.jid for g in online.engine.joined_groups()] == [GROUP]
    assert online.engine.group_invite_link(GROUP, reset=True) == "https://chat.whatsapp.com/AbC123"
    assert online.fake.calls_named("GetGroupInviteLink")[-1] == (True,)
    assert online.engine.join_group("https://chat.whatsapp.com/AbC123") == "120363000000000002@g.us"
    changed = online.engine.update_participants(GROUP, ["15550000003@s.whatsapp.net", "15550000004@s.whatsapp.net"],
                                                ParticipantAction.ADD)
    assert online.fake.calls_named("UpdateGroupParticipants")[-1] == (b"add",)
    assert [(p.jid, p.error) for p in changed] == [("15550000003@s.whatsapp.net", 403),
                                                   ("15550000004@s.whatsapp.net", 0)]
    # Through the runner's command queue the action arrives as its JSON string.
    online.engine.update_participants(GROUP, ["15550000003@s.whatsapp.net"], "promote")
    assert online.fake.calls_named("UpdateGroupParticipants")[-1] == (b"promote",)
    online.engine.set_group_name(GROUP, "Team 2")
    online.engine.set_group_topic(GROUP, "New plans")
    online.engine.leave_group(GROUP)
    assert online.fake.calls_named("SetGroupTopic")[-1][3:] == (b"", b"", b"New plans")
    assert online.fake.calls_named("LeaveGroup")


def test_group_errors(online: Any) -> None:
    online.fake.errors["JoinGroupWithLink"] = "that group invite link has been revoked"
    with pytest.raises(WhatsAppError) as caught:
        online.engine.join_group("AbC123")
    assert caught.value.code is ErrorCode.NOT_FOUND
    online.fake.errors["GetGroupInfo"] = "you're not participating in that group"
    with pytest.raises(WhatsAppError) as caught:
        online.engine.group_info(GROUP)
    assert caught.value.code is ErrorCode.FORBIDDEN


def test_contacts(online: Any) -> None:
    found = online.engine.is_on_whatsapp(["+1 555 123 4560", "15559999999"])
    assert online.fake.calls_named("IsOnWhatsApp")[-1] == (b"+15551234560 +15559999999",)
    assert found == [OnWhatsApp(query="+1 555 123 4560", jid="15551234560@s.whatsapp.net", is_on_whatsapp=True),
                     OnWhatsApp(query="15559999999", jid="15559999999@s.whatsapp.net", is_on_whatsapp=False)]
    assert online.settle() == [IdentityLinked(phone_jid="15551234560@s.whatsapp.net", lid="77234560@lid")]
    assert online.engine.user_info([ALICE]) == [UserInfo(jid=ALICE, status="hi", picture_id="p1", lid="88000111@lid",
                                                        phone_jid=ALICE)]
    assert online.engine.profile_picture(ALICE) == ProfilePicture(jid=ALICE, url="https://pps.whatsapp.net/p.jpg",
                                                                  picture_id="123")
    online.fake.errors["GetProfilePicture"] = "that user or group does not have a profile picture"
    assert online.engine.profile_picture(ALICE) is None
    assert online.engine.lid_for_phone(ALICE) == "88000111@lid"
    assert online.engine.phone_for_lid("88000111@lid") == "15551110000@s.whatsapp.net"


# --- pairing, probe, logout, connect failures ------------------------------------------------------------


def test_pair_phone_waits_for_the_first_qr_and_sends_our_params(harness: Any) -> None:
    h = harness(connect_wait_s=0.1)
    with pytest.raises(WhatsAppError) as caught:
        h.engine.pair_phone("15551234567")  # not linking at all
    assert caught.value.code is ErrorCode.MESSAGE_NOT_CONNECTED
    h.engine.connect()  # the fake shows no QR yet: the dial is "under way"
    result: list[Any] = []
    asker = threading.Thread(target=lambda: result.append(h.engine.pair_phone("+1 (555) 123-4567")))
    asker.start()
    time.sleep(0.1)
    assert not result
    h.fake.qr("2@code")
    asker.join(5)
    assert result == ["ABCD-EFGH"]
    params = h.fake.calls_named("PairPhone")[-1][0]
    assert (params.phone, params.clientType, params.clientDisplayName, params.showPushNotification) == (
        "15551234567", 1, "Chrome (Linux)", True)
    with pytest.raises(WhatsAppError) as caught:
        h.engine.pair_phone("0812345")
    assert caught.value.code is ErrorCode.AUTH_PAIRING_FAILED
    h.fake.errors["PairPhone"] = "info query returned status 400: bad-request"
    with pytest.raises(WhatsAppError) as caught:
        h.engine.pair_phone("15551234567")
    assert caught.value.code is ErrorCode.AUTH_PAIRING_FAILED


def test_pair_phone_when_linked_is_refused(online: Any) -> None:
    with pytest.raises(WhatsAppError) as caught:
        online.engine.pair_phone("15551234567")
    assert caught.value.code is ErrorCode.QR_RESET_NOT_ALLOWED


def test_probe(online: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    online.engine.probe(2.0)
    (own,) = online.fake.calls_named("GetUserInfo")[-1]
    assert (own.User, own.Device, own.Server) == (OWN_PHONE, 0, "s.whatsapp.net")
    online.fake.errors["GetUserInfo"] = "info query timed out"
    with pytest.raises(WhatsAppError) as caught:
        online.engine.probe(2.0)
    assert (caught.value.code, caught.value.details["reason"]) == (ErrorCode.HEALTH_CHECK_FAILED, "CONNECTION_TIMEOUT")
    release = threading.Event()
    monkeypatch.setattr(type(online.fake), "GetUserInfo", lambda *a: release.wait(10) and b"")
    started = time.monotonic()
    with pytest.raises(WhatsAppError) as caught:
        online.engine.probe(0.2)
    assert caught.value.details["reason"] == "timeout"
    assert time.monotonic() - started < 1.5
    release.set()
    online.fake.connected = False
    wait_for(lambda: not online.engine._prober.is_alive())
    with pytest.raises(WhatsAppError) as caught:
        online.engine.probe(2.0)
    assert caught.value.code is ErrorCode.HEALTH_CHECK_FAILED


def test_probe_before_login(harness: Any) -> None:
    with pytest.raises(WhatsAppError) as caught:
        harness().engine.probe(1.0)
    assert caught.value.code is ErrorCode.HEALTH_CHECK_FAILED


def test_logout_unlinks_and_deletes_the_keys(harness: Any, tmp_path: Any) -> None:
    store = tmp_path / "session.sqlite3"
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE whatsmeow_device (jid TEXT PRIMARY KEY)")
        db.execute("CREATE TABLE whatsmeow_sessions (our_jid TEXT REFERENCES whatsmeow_device(jid) ON DELETE CASCADE)")
        db.execute("INSERT INTO whatsmeow_device VALUES (?)", (f"{OWN_PHONE}:12@s.whatsapp.net",))
        db.execute("INSERT INTO whatsmeow_sessions VALUES (?)", (f"{OWN_PHONE}:12@s.whatsapp.net",))
    h = harness(session_jid=f"{OWN_PHONE}@s.whatsapp.net")
    h.fake.devices = f"{OWN_PHONE}:12@s.whatsapp.net,Gateway,,true"
    h.connect_online()
    h.fake.errors["Logout"] = "websocket not connected"  # the remote unlink fails: keys go anyway
    h.engine.logout()
    assert h.fake.calls_named("Logout")
    assert h.fake.calls_named("Stop")
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM whatsmeow_device").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM whatsmeow_sessions").fetchone() == (0,)
    h.fake.devices = ""
    assert not h.engine.has_session()
    assert not h.engine.is_connected()


def test_connect_failure_is_raised_and_cleaned_up(harness: Any) -> None:
    h = harness()
    h.fake.neonize_error = (b"failed to dial whatsapp web websocket: failed to WebSocket dial: failed to send "
                            b"handshake request: Get \"https://web.whatsapp.com/ws/chat\": dial tcp: lookup "
                            b"web.whatsapp.com on 10.255.255.53:53: no such host")
    with pytest.raises(WhatsAppError) as caught:
        h.engine.connect()
    assert caught.value.code is ErrorCode.CONNECTION_DNS_FAILED
    assert h.fake.calls_named("Stop")  # the client left in Go's maps by a failed connect is stopped
    assert h.settle() == []  # reported to the caller, not twice


def test_a_late_connect_failure_becomes_an_event(harness: Any) -> None:
    h = harness(connect_wait_s=0.05)
    late = b"failed to dial whatsapp web websocket: failed to WebSocket dial: context deadline exceeded"

    def hang_then_fail(go: Any) -> None:
        time.sleep(0.3)
        go.neonize_error = late

    h.fake.on_start = [hang_then_fail]
    started = time.monotonic()
    h.engine.connect()  # returns while the "dial" is still under way
    assert time.monotonic() - started < 0.3
    wait_for(lambda: h.events)
    assert h.settle() == [ConnectionLost(error=ErrorCode.CONNECTION_TIMEOUT, detail=late.decode())]


def test_a_hung_stop_bounds_disconnect_and_the_next_connect(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``stop()`` blocks while a dial hangs (up to 60 s, neonize-notes P5): disconnect() waits only
    ``stop_wait_s``, and a connect() meanwhile refuses instead of starting a second Neonize()."""
    h = harness(stop_wait_s=0.1)
    h.connect_online()
    original = type(h.fake).Stop
    monkeypatch.setattr(type(h.fake), "Stop", lambda self, uuid: (time.sleep(0.6), original(self, uuid))[1])
    started = time.monotonic()
    h.engine.disconnect()
    assert time.monotonic() - started < 0.5
    with pytest.raises(WhatsAppError) as caught:
        h.engine.connect()
    assert caught.value.code is ErrorCode.CONNECTION_TIMEOUT
    assert len(h.fake.calls_named("Neonize")) == 1
    wait_for(lambda: not h.engine._stopper.is_alive())
    h.fake.on_start = [lambda go: go.emit(N.Connected(status=True))]
    h.engine.connect()
    assert len(h.fake.calls_named("Neonize")) == 2


def test_a_malformed_jid_is_a_validation_error(online: Any) -> None:
    for bad in ("1555:x@s.whatsapp.net", "@s.whatsapp.net", ""):
        with pytest.raises(WhatsAppError) as caught:
            online.engine.send(out(text="hi", to_jid=bad))
        assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert online.fake.sent == []
