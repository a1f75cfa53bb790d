"""Real neonize protobuf events through the adapter's registered handlers → the port events the sink gets.

Events are serialised and delivered through neonize's own dispatcher (``Event.execute(uuid, ptr,
size, code)``, neonize-notes §4.1) or, for connection events, by the fake Go core calling the ctypes
thunks neonize built at ``connect()`` — the exact C path.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import OWN_LID, OWN_PHONE, E, N, empty_jid, jid, wait_for

from whatsapp.engine import neonize_lifecycle
from whatsapp.engine.base import (
    ChatPresenceChanged,
    ChatState,
    Connected,
    ConnectionLost,
    HistoryBatch,
    IdentityLinked,
    Kind,
    LoggedOut,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    Paired,
    PresenceChanged,
    QRCodeIssued,
    QRWindowClosed,
    ReactionReceived,
    ReceiptReceived,
    ReceiptStatus,
    TemporarilyBanned,
)
from whatsapp.errors import ErrorCode

TS = 1_700_000_000
WHEN = datetime.fromtimestamp(TS, UTC)
ALICE = "15551234567"
GROUP = "120363000000000001"


def message(body: E.Message, *, chat: N.JID | None = None, sender: N.JID | None = None,
            sender_alt: N.JID | None = None, msg_id: str = "3EB0AAAA", from_me: bool = False,
            **flags: bool) -> N.Message:
    chat = chat or jid(ALICE)
    source = N.MessageSource(Chat=chat, Sender=sender or chat, IsFromMe=from_me, IsGroup=chat.Server == "g.us",
                             SenderAlt=sender_alt or empty_jid())
    info = N.MessageInfo(MessageSource=source, ID=msg_id, Type="text", Pushname="Alice", Timestamp=TS)
    return N.Message(Info=info, Message=body, **flags)


def received(h: Any, ev: N.Message) -> list[Any]:
    h.dispatch(ev)
    return h.settle()


def only_message(h: Any, ev: N.Message) -> Any:
    events = received(h, ev)
    assert [type(e) for e in events] == [MessageReceived], events
    return events[0].message


# --- linking -----------------------------------------------------------------------------------------


def test_qr_codes_window_and_timeout(harness: Any) -> None:
    h = harness()
    h.fake.on_start = [lambda go: go.qr("2@first,AAA,BBB,CCC")]
    before = time.time()
    h.engine.connect()
    h.fake.qr("2@second,AAA,BBB,CCC")
    first, second = h.settle()
    assert isinstance(first, QRCodeIssued)
    assert isinstance(second, QRCodeIssued)
    assert (first.code, first.valid_for_s, second.code, second.valid_for_s) == (
        "2@first,AAA,BBB,CCC", 60.0, "2@second,AAA,BBB,CCC", 20.0)
    assert first.window_ends_at == second.window_ends_at
    assert before + 159 <= first.window_ends_at.timestamp() <= time.time() + 161  # 60 s + 5 x 20 s
    args = h.fake.neonize_args
    assert args[2] == b""
    assert args[4] == 1
    from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps
    props = DeviceProps.FromString(args[12])
    assert (props.os, props.platformType) == ("WhatsApp Gateway", DeviceProps.CHROME)
    subscribed = set(bytes(args[10]))
    assert {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 18, 19, 20} <= subscribed
    h.fake.login_status("timeout")  # neonize's QR channel ran out of codes
    assert h.settle() == [QRWindowClosed()]
    wait_for(lambda: h.fake.calls_named("Stop"))  # the blocked neonize connect() is released


def test_qr_window_watchdog_closes_when_neonize_says_nothing(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neonize_lifecycle, "QR_FIRST_S", 0.05)
    h = harness(qr_grace_s=0.05)
    h.fake.on_start = [lambda go: go.qr("2@only")]
    h.engine.connect()
    assert isinstance(h.settle()[0], QRCodeIssued)
    wait_for(lambda: QRWindowClosed() in h.events)


def test_pairing_then_connected_then_reconnect_resumes_the_new_device(harness: Any) -> None:
    h = harness()
    h.fake.on_start = [lambda go: go.qr("2@code")]
    h.engine.connect()
    h.fake.emit(N.PairStatus(ID=jid(OWN_PHONE, device=12), Status=N.PairStatus.SUCCESS, Platform="android",
                             BusinessName=""))
    h.fake.emit(h.fake.me, code=0)  # Go's internal device event: sets client.me
    h.fake.emit(N.Connected(status=True))
    events = h.settle()
    assert events[1:] == [
        Paired(phone_jid=f"{OWN_PHONE}@s.whatsapp.net"),
        IdentityLinked(phone_jid=f"{OWN_PHONE}@s.whatsapp.net", lid=f"{OWN_LID}@lid"),
        Connected(phone_jid=f"{OWN_PHONE}@s.whatsapp.net", lid=f"{OWN_LID}@lid", push_name="Gateway"),
    ]
    assert h.engine.is_connected()
    assert h.engine.has_session()
    assert not h.fake.calls_named("GetMe")  # client.me came from Go's device event
    h.engine.disconnect()
    h.fake.on_start = [lambda go: go.emit(N.Connected(status=True))]
    h.engine.connect()
    resumed = N.JID.FromString(h.fake.neonize_args[2])
    assert (resumed.User, resumed.Device, resumed.Server, h.fake.neonize_args[4]) == (
        OWN_PHONE, 12, "s.whatsapp.net", 0)
    assert h.settle()[-1] == Connected(phone_jid=f"{OWN_PHONE}@s.whatsapp.net", lid=f"{OWN_LID}@lid",
                                       push_name="Gateway")
    assert h.fake.calls_named("GetMe")  # no device event this time: asked Go, now that it is connected


def test_pair_error_ends_linking(harness: Any) -> None:
    h = harness()
    h.fake.on_start = [lambda go: go.qr("2@code")]
    h.engine.connect()
    h.fake.emit(N.PairStatus(ID=empty_jid(), Status=N.PairStatus.ERROR, Error="hmac mismatch", Platform="",
                             BusinessName=""))
    assert h.settle()[1:] == [QRWindowClosed()]


def test_resume_uses_the_stored_device_of_session_jid_never_the_first_one(harness: Any) -> None:
    h = harness(session_jid=f"{ALICE}@s.whatsapp.net")
    h.fake.devices = (f"14440000000:3@s.whatsapp.net,First, with a comma,,true|\x01|"
                      f"{ALICE}:7@s.whatsapp.net,Alice,,true")
    assert h.engine.has_session()
    h.fake.on_start = [lambda go: go.emit(N.Connected(status=True))]
    h.engine.connect()
    resumed = N.JID.FromString(h.fake.neonize_args[2])
    assert (resumed.User, resumed.Device, h.fake.neonize_args[4]) == (ALICE, 7, 0)


def test_a_session_jid_missing_from_the_store_links_a_new_device(harness: Any) -> None:
    h = harness(session_jid=f"{ALICE}@s.whatsapp.net")
    h.fake.devices = "14440000000:3@s.whatsapp.net,Other,,true"
    assert not h.engine.has_session()
    h.fake.on_start = [lambda go: go.qr("2@code")]
    h.engine.connect()
    assert (h.fake.neonize_args[2], h.fake.neonize_args[4]) == (b"", 1)


# --- disconnects and logouts --------------------------------------------------------------------------

R = N.ConnectFailureReason


@pytest.mark.parametrize(("reason", "on_connect", "expected_reason", "expected_error"), [
    (R.LOGGED_OUT, True, "revoked", ErrorCode.LOGGED_OUT),
    (R.LOGGED_OUT, False, "device_removed", ErrorCode.AUTH_DEVICE_REMOVED),
    (R.MAIN_DEVICE_GONE, True, "logged_out", ErrorCode.LOGGED_OUT),
    (R.UNKNOWN_LOGOUT, True, "banned", ErrorCode.AUTH_BANNED),
    (R.GENERIC, False, "logged_out", ErrorCode.LOGGED_OUT),
    (R.TEMP_BANNED, True, "logged_out", ErrorCode.LOGGED_OUT),
    (R.CLIENT_OUTDATED, True, "logged_out", ErrorCode.LOGGED_OUT),
    (R.BAD_USER_AGENT, True, "logged_out", ErrorCode.LOGGED_OUT),
    (R.INTERNAL_SERVER_ERROR, True, "logged_out", ErrorCode.LOGGED_OUT),
    (R.EXPERIMENTAL, True, "logged_out", ErrorCode.LOGGED_OUT),
    (R.SERVICE_UNAVAILABLE, True, "logged_out", ErrorCode.LOGGED_OUT),
])
def test_logged_out_each_reason(online: Any, reason: int, on_connect: bool, expected_reason: str,
                                expected_error: ErrorCode) -> None:
    online.fake.emit(N.LoggedOut(OnConnect=on_connect, Reason=reason))
    (event,) = online.settle()
    assert isinstance(event, LoggedOut)
    assert (event.reason, event.error) == (expected_reason, expected_error)
    assert not online.engine.is_connected()
    assert not online.engine.has_session()  # whatsmeow deleted the session
    wait_for(lambda: online.fake.calls_named("Stop"))


@pytest.mark.parametrize(("code", "expire", "expected"), [
    (N.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, 3600, TemporarilyBanned(3600, "sent_to_too_many_people")),
    (N.TemporaryBan.BLOCKED_BY_USERS, 60, TemporarilyBanned(60, "blocked_by_users")),
    (N.TemporaryBan.CREATED_TOO_MANY_GROUPS, 1, TemporarilyBanned(1, "created_too_many_groups")),
    (N.TemporaryBan.SENT_TOO_MANY_SAME_MESSAGE, 0, TemporarilyBanned(None, "sent_too_many_same_message")),
    (N.TemporaryBan.BROADCAST_LIST, 86400, TemporarilyBanned(86400, "broadcast_list")),
])
def test_temporary_ban(online: Any, code: int, expire: int, expected: TemporarilyBanned) -> None:
    online.fake.emit(N.TemporaryBan(Code=code, Expire=expire))
    assert online.settle() == [expected]
    assert online.engine.has_session()  # a ban keeps the keys


def test_stream_replaced_and_client_outdated_keep_the_session(harness: Any) -> None:
    for ev, reason, error in ((N.StreamReplaced(), "replaced", ErrorCode.SESSION_REPLACED),
                              (N.ClientOutdated(), "client_outdated", ErrorCode.CLIENT_OUTDATED)):
        h = harness()
        h.connect_online()
        h.fake.emit(ev)
        (event,) = h.settle()
        assert (type(event), event.reason, event.error) == (LoggedOut, reason, error)
        assert h.engine.has_session()


@pytest.mark.parametrize(("reason", "expected_type", "expected_error"), [
    (R.TEMP_BANNED, TemporarilyBanned, None),
    (R.CLIENT_OUTDATED, LoggedOut, ErrorCode.CLIENT_OUTDATED),
    (R.BAD_USER_AGENT, LoggedOut, ErrorCode.CLIENT_OUTDATED),
    (R.LOGGED_OUT, LoggedOut, ErrorCode.LOGGED_OUT),
    (R.INTERNAL_SERVER_ERROR, ConnectionLost, ErrorCode.PROVIDER_ERROR),
    (R.SERVICE_UNAVAILABLE, ConnectionLost, ErrorCode.PROVIDER_ERROR),
    (R.GENERIC, ConnectionLost, ErrorCode.PROVIDER_ERROR),
    (None, ConnectionLost, ErrorCode.PROVIDER_ERROR),  # 413/414/415/418: neonize leaves Reason unset
])
def test_connect_failure(online: Any, reason: int | None, expected_type: type, expected_error: Any) -> None:
    ev = N.ConnectFailure(Message="nope") if reason is None else N.ConnectFailure(Reason=reason, Message="nope")
    online.fake.emit(ev)
    (event,) = online.settle()
    assert type(event) is expected_type
    if expected_error is not None:
        assert event.error is expected_error
    assert not online.engine.is_connected()


def test_disconnected_after_stream_error_then_auto_reconnect(online: Any) -> None:
    online.fake.emit(N.StreamError(Code="503"))
    online.fake.emit(N.Disconnected(status=True))
    assert online.settle() == [ConnectionLost(error=ErrorCode.CONNECTION_LOST,
                                              detail="websocket closed after stream error 503")]
    assert not online.engine.is_connected()
    online.fake.emit(N.Connected(status=True))  # whatsmeow reconnected by itself
    assert online.of(Connected)
    assert online.engine.is_connected()


def test_keepalive_timeout_reported_once_then_restored(online: Any) -> None:
    online.fake.emit(N.KeepAliveTimeout(ErrorCount=1, LastSuccess=TS))
    online.fake.emit(N.KeepAliveTimeout(ErrorCount=2, LastSuccess=TS))
    assert online.settle() == [ConnectionLost(error=ErrorCode.HEALTH_CHECK_FAILED,
                                              detail="keep-alive timeout (1 failures)")]
    online.fake.emit(N.KeepAliveRestored())
    assert online.settle() == [Connected(phone_jid=f"{OWN_PHONE}@s.whatsapp.net", lid=f"{OWN_LID}@lid",
                                         push_name="Gateway")]


def test_lifecycle_events_of_a_stopped_client_are_ignored(online: Any) -> None:
    online.engine.disconnect()
    online.dispatch(N.Connected(status=True))
    online.dispatch(N.LoggedOut(OnConnect=False, Reason=R.LOGGED_OUT))
    assert online.settle() == []
    assert not online.engine.is_connected()


# --- messages ------------------------------------------------------------------------------------------


def test_text_conversation(harness: Any) -> None:
    got = only_message(harness(), message(E.Message(conversation="hello")))
    assert (got.wa_id, got.chat_jid, got.sender_jid, got.timestamp, got.kind, got.text, got.from_me,
            got.push_name, got.sender_phone_jid, got.sender_lid) == (
        "3EB0AAAA", f"{ALICE}@s.whatsapp.net", f"{ALICE}@s.whatsapp.net", WHEN, Kind.TEXT, "hello", False, "Alice",
        f"{ALICE}@s.whatsapp.net", "")


def test_extended_text_reply_from_a_companion_device(harness: Any) -> None:
    body = E.Message(extendedTextMessage=E.ExtendedTextMessage(
        text="see above", contextInfo=E.ContextInfo(stanzaID="3EB0QUOTED", participant=f"{ALICE}@s.whatsapp.net")))
    got = only_message(harness(), message(body, sender=jid(ALICE, device=3)))
    assert (got.kind, got.text, got.quoted_wa_id, got.sender_jid) == (
        Kind.TEXT, "see above", "3EB0QUOTED", f"{ALICE}@s.whatsapp.net")


def test_image_in_a_group_with_media_locator(harness: Any) -> None:
    body = E.Message(imageMessage=E.ImageMessage(
        URL="https://mmg.whatsapp.net/v/x.enc", directPath="/v/t62.7118-24/x.enc", mimetype="image/jpeg",
        caption="look", fileLength=1234, width=640, height=480, mediaKey=b"\1" * 32, fileSHA256=b"\2" * 32,
        fileEncSHA256=b"\3" * 32))
    got = only_message(harness(), message(body, chat=jid(GROUP, "g.us"), sender=jid("15557654321")))
    assert (got.kind, got.text, got.chat_jid, got.sender_jid, got.is_group) == (
        Kind.IMAGE, "look", f"{GROUP}@g.us", "15557654321@s.whatsapp.net", True)
    media = got.media
    assert (media.mime_type, media.size, media.sha256, media.ptt) == ("image/jpeg", 1234, "02" * 32, False)
    assert media.locator == {"direct_path": "/v/t62.7118-24/x.enc", "media_key": "AQEB" * 10 + "AQE=",
                             "file_enc_sha256": "AwMD" * 10 + "AwM=", "file_sha256": "AgIC" * 10 + "AgI=",
                             "file_length": 1234, "media_type": "image"}


def test_document_with_caption_wrapper(harness: Any) -> None:
    inner = E.Message(documentMessage=E.DocumentMessage(
        mimetype="application/pdf", fileName="report.pdf", caption="Q3", fileLength=99, directPath="/d",
        mediaKey=b"k" * 32))
    got = only_message(harness(), message(E.Message(documentWithCaptionMessage=E.FutureProofMessage(message=inner))))
    assert (got.kind, got.text, got.media.file_name, got.media.mime_type, got.media.locator["media_type"]) == (
        Kind.DOCUMENT, "Q3", "report.pdf", "application/pdf", "document")


@pytest.mark.parametrize(("body", "kind", "ptt", "media_type"), [
    (E.Message(audioMessage=E.AudioMessage(mimetype="audio/ogg; codecs=opus", PTT=True, seconds=7)), Kind.AUDIO,
     True, "audio"),
    (E.Message(audioMessage=E.AudioMessage(mimetype="audio/mpeg", PTT=False)), Kind.AUDIO, False, "audio"),
    (E.Message(videoMessage=E.VideoMessage(mimetype="video/mp4", caption="clip", seconds=3)), Kind.VIDEO, False,
     "video"),
    (E.Message(stickerMessage=E.StickerMessage(mimetype="image/webp")), Kind.STICKER, False, "sticker"),
])
def test_audio_video_sticker(harness: Any, body: E.Message, kind: Kind, ptt: bool, media_type: str) -> None:
    got = only_message(harness(), message(body))
    assert (got.kind, got.media.ptt, got.media.locator["media_type"]) == (kind, ptt, media_type)
    if body.HasField("audioMessage") and ptt:
        assert got.media.duration_s == 7


def test_location_contact_and_contacts_array(harness: Any) -> None:
    h = harness()
    loc = only_message(h, message(E.Message(locationMessage=E.LocationMessage(
        degreesLatitude=-6.2, degreesLongitude=106.8, name="Monas", address="Jakarta"))))
    assert (loc.kind, loc.text, loc.content) == (Kind.LOCATION, "Monas", {
        "latitude": -6.2, "longitude": 106.8, "address": "Jakarta", "name": "Monas"})
    vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Bob\nTEL;waid=15550001111:+1 555 000 1111\nEND:VCARD"
    contact = only_message(h, message(E.Message(contactMessage=E.ContactMessage(displayName="Bob", vcard=vcard)),
                                      msg_id="C1"))
    assert (contact.kind, contact.text, contact.content) == (Kind.CONTACT, "Bob", {"name": "Bob", "vcard": vcard})
    many = only_message(h, message(E.Message(contactsArrayMessage=E.ContactsArrayMessage(
        displayName="2 contacts", contacts=[E.ContactMessage(displayName="Bob", vcard=vcard),
                                            E.ContactMessage(displayName="Cy", vcard="V2")])), msg_id="C2"))
    assert many.kind == Kind.CONTACT
    assert many.content["contacts"] == [{"name": "Bob", "vcard": vcard}, {"name": "Cy", "vcard": "V2"}]


@pytest.mark.parametrize("field", ["pollCreationMessage", "pollCreationMessageV3", "pollCreationMessageV5"])
def test_poll(harness: Any, field: str) -> None:
    poll = E.PollCreationMessage(name="Lunch?", selectableOptionsCount=1,
                                 options=[E.PollCreationMessage.Option(optionName=o) for o in ("Pizza", "Sushi")])
    got = only_message(harness(), message(E.Message(**{field: poll})))
    assert (got.kind, got.text, got.content) == (Kind.POLL, "Lunch?", {
        "name": "Lunch?", "options": ["Pizza", "Sushi"], "selectable_count": 1})


def test_reaction_and_its_removal(harness: Any) -> None:
    h = harness()
    key = E.ReactionMessage(key=E.Message().reactionMessage.key.__class__(remoteJID=f"{ALICE}@s.whatsapp.net",
                                                                          fromMe=True, ID="3EB0MINE"),
                            text="👍", senderTimestampMS=TS * 1000)
    assert received(h, message(E.Message(reactionMessage=key), msg_id="R1")) == [ReactionReceived(
        chat_jid=f"{ALICE}@s.whatsapp.net", sender_jid=f"{ALICE}@s.whatsapp.net", target_wa_id="3EB0MINE",
        emoji="👍", timestamp=WHEN)]
    key.text = ""
    (removed,) = received(h, message(E.Message(reactionMessage=key), msg_id="R2"))
    assert removed.emoji == ""


def test_edit_and_revoke_from_protocol_messages(harness: Any) -> None:
    h = harness()
    key = E.ProtocolMessage().key.__class__(remoteJID=f"{ALICE}@s.whatsapp.net", fromMe=False, ID="3EB0OLD")
    edit = E.ProtocolMessage(key=key, type=E.ProtocolMessage.MESSAGE_EDIT, timestampMS=TS * 1000,
                             editedMessage=E.Message(conversation="fixed typo"))
    wrapped = E.Message(editedMessage=E.FutureProofMessage(message=E.Message(protocolMessage=edit)))
    assert received(h, message(wrapped, msg_id="E1", IsEdit=True)) == [MessageEdited(
        chat_jid=f"{ALICE}@s.whatsapp.net", sender_jid=f"{ALICE}@s.whatsapp.net", target_wa_id="3EB0OLD",
        text="fixed typo", timestamp=WHEN)]
    revoke = E.ProtocolMessage(key=key, type=E.ProtocolMessage.REVOKE)
    assert received(h, message(E.Message(protocolMessage=revoke), msg_id="V1", from_me=True)) == [MessageRevoked(
        chat_jid=f"{ALICE}@s.whatsapp.net", sender_jid=f"{ALICE}@s.whatsapp.net", target_wa_id="3EB0OLD",
        timestamp=WHEN, from_me=True)]
    sync = E.ProtocolMessage(type=E.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE)
    assert received(h, message(E.Message(protocolMessage=sync), msg_id="P1")) == []


def test_ephemeral_and_view_once_wrappers(harness: Any) -> None:
    h = harness()
    inner = E.Message(extendedTextMessage=E.ExtendedTextMessage(text="vanishing"))
    eph = only_message(h, message(E.Message(ephemeralMessage=E.FutureProofMessage(message=inner))))
    assert (eph.text, eph.content) == ("vanishing", {"ephemeral": True})
    image = E.Message(imageMessage=E.ImageMessage(mimetype="image/jpeg", caption="once", directPath="/i"))
    once = only_message(h, message(E.Message(viewOnceMessageV2=E.FutureProofMessage(message=image)), msg_id="O1"))
    assert (once.kind, once.text, once.content) == (Kind.IMAGE, "once", {"view_once": True})
    # whatsmeow already unwrapped it and set the flag (the live form)
    flagged = only_message(h, message(image, msg_id="O2", IsViewOnce=True, IsEphemeral=True))
    assert flagged.content == {"view_once": True, "ephemeral": True}


def test_lid_addressed_sender_links_identities_once(harness: Any) -> None:
    h = harness()
    ev = message(E.Message(conversation="hi"), chat=jid("250834713608221", "lid"),
                 sender=jid("250834713608221", "lid"), sender_alt=jid(ALICE))
    link, msg = received(h, ev)
    assert link == IdentityLinked(phone_jid=f"{ALICE}@s.whatsapp.net", lid="250834713608221@lid")
    assert (msg.message.sender_jid, msg.message.sender_lid, msg.message.sender_phone_jid) == (
        "250834713608221@lid", "250834713608221@lid", f"{ALICE}@s.whatsapp.net")
    group_msg = message(E.Message(conversation="again"), chat=jid(GROUP, "g.us"), sender=jid(ALICE),
                        sender_alt=jid("250834713608221", "lid"), msg_id="L2")
    assert [type(e) for e in received(h, group_msg)] == [MessageReceived]  # the pair was already reported


def test_dropped_and_unknown_content(harness: Any) -> None:
    h = harness()
    assert received(h, message(E.Message(conversation="story"), chat=jid("status", "broadcast"),
                               sender=jid(ALICE))) == []
    skdm = E.Message(senderKeyDistributionMessage=E.SenderKeyDistributionMessage(groupID=f"{GROUP}@g.us"))
    assert received(h, message(skdm, msg_id="S1")) == []
    invite = E.Message(groupInviteMessage=E.GroupInviteMessage(groupJID=f"{GROUP}@g.us", inviteCode="x"))
    got = only_message(h, message(invite, msg_id="U1"))
    assert (got.kind, got.content) == (Kind.UNKNOWN, {"type": "groupInviteMessage"})


def test_own_message_from_the_phone(harness: Any) -> None:
    got = only_message(harness(), message(E.Message(conversation="typed on the phone"), sender=jid(OWN_PHONE),
                                          from_me=True))
    assert (got.from_me, got.sender_jid) == (True, f"{OWN_PHONE}@s.whatsapp.net")


# --- receipts, presence, history -----------------------------------------------------------------------

RT = N.Receipt


@pytest.mark.parametrize(("receipt_type", "expected"), [
    (RT.DELIVERED, ReceiptStatus.DELIVERED), (RT.READ, ReceiptStatus.READ), (RT.READ_SELF, ReceiptStatus.READ),
    (RT.PLAYED, ReceiptStatus.PLAYED), (RT.PLAYED_SELF, ReceiptStatus.PLAYED),
    (RT.SERVER_ERROR, ReceiptStatus.PLAYED),  # neonize encodes whatsmeow played-self as SERVER_ERROR
    (RT.SENDER, None), (RT.RETRY, None), (RT.INACTIVE, None), (RT.PEER_MSG, None), (RT.HISTORY_SYNC, None),
])
def test_receipt_types(harness: Any, receipt_type: int, expected: ReceiptStatus | None) -> None:
    h = harness()
    source = N.MessageSource(Chat=jid(GROUP, "g.us"), Sender=jid(ALICE, device=2), IsFromMe=False, IsGroup=True)
    h.dispatch(N.Receipt(MessageSource=source, MessageIDs=["3EB0A", "3EB0B"], Timestamp=TS, Type=receipt_type))
    events = h.settle()
    if expected is None:
        assert events == []
    else:
        assert events == [ReceiptReceived(chat_jid=f"{GROUP}@g.us", sender_jid=f"{ALICE}@s.whatsapp.net",
                                          wa_ids=("3EB0A", "3EB0B"), status=expected, timestamp=WHEN)]


def test_receipt_with_unset_type_is_a_server_error_and_dropped(harness: Any) -> None:
    h = harness()
    source = N.MessageSource(Chat=jid(ALICE), Sender=jid(ALICE), IsFromMe=False, IsGroup=False)
    h.dispatch(N.Receipt(MessageSource=source, MessageIDs=["3EB0A"], Timestamp=TS))
    assert h.settle() == []


def test_chat_presence_and_presence(harness: Any) -> None:
    h = harness()
    source = N.MessageSource(Chat=jid(ALICE), Sender=jid(ALICE), IsFromMe=False, IsGroup=False)
    for state, media, expected in ((N.ChatPresence.COMPOSING, N.ChatPresence.TEXT, ChatState.COMPOSING),
                                   (N.ChatPresence.COMPOSING, N.ChatPresence.AUDIO, ChatState.RECORDING),
                                   (N.ChatPresence.PAUSED, N.ChatPresence.TEXT, ChatState.PAUSED)):
        h.dispatch(N.ChatPresence(MessageSource=source, State=state, Media=media))
        assert h.settle() == [ChatPresenceChanged(chat_jid=f"{ALICE}@s.whatsapp.net",
                                                  sender_jid=f"{ALICE}@s.whatsapp.net", state=expected)]
    h.dispatch(N.Presence(From=jid(ALICE), Unavailable=True, LastSeen=TS))
    h.dispatch(N.Presence(From=jid(ALICE), Unavailable=False, LastSeen=-62135596800))  # hidden: Go's zero time
    assert h.settle() == [PresenceChanged(jid=f"{ALICE}@s.whatsapp.net", available=False, last_seen=WHEN),
                          PresenceChanged(jid=f"{ALICE}@s.whatsapp.net", available=True, last_seen=None)]


def test_history_sync_batch(online: Any) -> None:
    from neonize.proto.waCommon.WACommon_pb2 import MessageKey
    from neonize.proto.waHistorySync import WAWebProtobufsHistorySync_pb2 as H
    from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo

    def web(key: MessageKey, body: E.Message | None = None, **extra: Any) -> H.HistorySyncMsg:
        info = WebMessageInfo(key=key, messageTimestamp=TS, **extra)
        if body is not None:
            info.message.CopyFrom(body)
        return H.HistorySyncMsg(message=info)

    data = H.HistorySync(syncType=H.HistorySync.INITIAL_BOOTSTRAP, progress=42, conversations=[
        H.Conversation(ID=f"{ALICE}@s.whatsapp.net", messages=[
            web(MessageKey(remoteJID=f"{ALICE}@s.whatsapp.net", fromMe=False, ID="H1"),
                E.Message(conversation="old hello"), pushName="Alice"),
            web(MessageKey(remoteJID=f"{ALICE}@s.whatsapp.net", fromMe=True, ID="H2"),
                E.Message(ephemeralMessage=E.FutureProofMessage(message=E.Message(conversation="my reply")))),
            web(MessageKey(remoteJID=f"{ALICE}@s.whatsapp.net", fromMe=False, ID="H3")),  # system stub, no content
        ]),
        H.Conversation(ID=f"{GROUP}@g.us", messages=[
            web(MessageKey(remoteJID=f"{GROUP}@g.us", fromMe=False, ID="H4",
                           participant="15557654321:4@s.whatsapp.net"),
                E.Message(imageMessage=E.ImageMessage(mimetype="image/png", caption="pic", directPath="/p"))),
        ]),
        H.Conversation(ID="status@broadcast", messages=[
            web(MessageKey(remoteJID="status@broadcast", fromMe=False, ID="H5"), E.Message(conversation="story"))]),
    ], phoneNumberToLidMappings=[H.PhoneNumberToLIDMapping(pnJID=f"{ALICE}@s.whatsapp.net", lidJID="2508@lid")])
    online.fake.emit(N.HistorySync(Data=data))
    link, batch = online.settle()
    assert link == IdentityLinked(phone_jid=f"{ALICE}@s.whatsapp.net", lid="2508@lid")
    assert isinstance(batch, HistoryBatch)
    assert batch.progress == 42
    assert [(m.wa_id, m.chat_jid, m.sender_jid, m.from_me, m.kind, m.text) for m in batch.messages] == [
        ("H1", f"{ALICE}@s.whatsapp.net", f"{ALICE}@s.whatsapp.net", False, Kind.TEXT, "old hello"),
        ("H2", f"{ALICE}@s.whatsapp.net", f"{OWN_PHONE}@s.whatsapp.net", True, Kind.TEXT, "my reply"),
        ("H4", f"{GROUP}@g.us", "15557654321@s.whatsapp.net", False, Kind.IMAGE, "pic"),
    ]
    assert batch.messages[0].push_name == "Alice"
    assert batch.messages[0].timestamp == WHEN


def test_a_failing_sink_does_not_stop_the_event_worker(harness: Any) -> None:
    h = harness()
    calls: list[Any] = []

    def sink(event: Any) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("sink broke")

    h.engine.sink = sink
    h.dispatch(message(E.Message(conversation="one"), msg_id="1"))
    h.dispatch(message(E.Message(conversation="two"), msg_id="2"))
    assert h.engine.flush(5)
    assert [c.message.text for c in calls] == ["one", "two"]


def test_late_news_from_an_older_connection_leaves_the_new_one_alone(harness: Any) -> None:
    h = harness(connect_wait_s=0.1)
    h.fake.on_start = [lambda go: go.qr("2@first")]
    h.engine.connect()
    assert [e.code for e in h.settle()] == ["2@first"]
    old = h.engine._gen
    h.engine.disconnect()
    h.fake.on_start = [lambda go: go.qr("2@second")]
    h.engine.connect()
    assert [e.code for e in h.settle()] == ["2@second"]
    stops = len(h.fake.calls_named("Stop"))
    h.engine._inbox.put(("login", "timeout", old))  # the first linking socket's QR channel closing, late
    h.engine._inbox.put(("event", N.LoggedOut(OnConnect=True, Reason=R.LOGGED_OUT), old))
    h.engine._stop_client(0, old)
    assert h.settle() == []
    assert len(h.fake.calls_named("Stop")) == stops
    h.fake.qr("2@third")
    assert [e.code for e in h.settle()] == ["2@third"]
