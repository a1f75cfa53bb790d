"""Convert between neonize protobufs and the port: inbound events and query results into port
events and values, outgoing port messages into ``waE2E.Message`` protobufs.

Pure functions over protobuf objects: nothing here calls into the Go core, so the adapter can run
them off the Go callback thread and tests can feed them real ``Neonize_pb2`` messages.

neonize modules are imported lazily (:func:`_pb`): importing neonize loads its Go core, and this
module must stay importable (and cheap) anywhere the port's types are needed.

Facts relied on (reference/whatsapp-behaviour.md §2, §4, §5, §7, §9; neonize-notes §1.3):

* whatsmeow unwraps ``ephemeralMessage``/``viewOnceMessage*``/``documentWithCaptionMessage``/
  ``editedMessage`` before neonize encodes the event and sets ``IsEphemeral``/``IsViewOnce``/…; we
  unwrap again anyway, because history sync (``WebMessageInfo``) delivers the raw wrapped form.
* Edits arrive as ``protocolMessage{type: MESSAGE_EDIT, key, editedMessage}``, revokes as
  ``protocolMessage{type: REVOKE, key}``, reactions as ``reactionMessage{key, text}`` ("" removes).
* In LID-addressed chats ``Sender`` is ``…@lid`` and ``SenderAlt`` holds the phone JID (and the
  other way round in phone-addressed ones); when both are known we report :class:`IdentityLinked`.
* neonize's receipt mapping has bugs: whatsmeow ``played-self`` arrives as ``SERVER_ERROR`` and
  ``server-error`` arrives with ``Type`` unset.
* Presence ``LastSeen`` is Go's zero time (negative) when hidden.
"""

from __future__ import annotations

import base64
import functools
import os
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from whatsapp.engine.base import (
    ChatPresenceChanged,
    ChatState,
    EngineEvent,
    GroupInfo,
    GroupParticipant,
    HistoryBatch,
    IdentityLinked,
    InboundMessage,
    Kind,
    MediaRef,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    OnWhatsApp,
    OutgoingMessage,
    PresenceChanged,
    ReactionReceived,
    ReceiptReceived,
    ReceiptStatus,
)
from whatsapp.errors import ErrorCode, WhatsAppError

PHONE_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
GROUP_SERVER = "g.us"
# Chats the gateway stores. Status updates (status@broadcast), broadcast lists and newsletters are
# dropped: the port has no place for them and the store only accepts these three servers.
CHAT_SERVERS = frozenset({PHONE_SERVER, LID_SERVER, GROUP_SERVER})

# Wrappers whose inner ``.message`` is the real content, with the flag each one implies (§4.2).
_WRAPPERS: tuple[tuple[str, str], ...] = (
    ("deviceSentMessage", ""), ("botInvokeMessage", ""), ("ephemeralMessage", "ephemeral"),
    ("viewOnceMessage", "view_once"), ("viewOnceMessageV2", "view_once"),
    ("viewOnceMessageV2Extension", "view_once"), ("lottieStickerMessage", ""),
    ("documentWithCaptionMessage", ""), ("editedMessage", ""), ("groupMentionedMessage", ""),
    ("associatedChildMessage", ""),
)
_POLL_FIELDS = ("pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3",
                "pollCreationMessageV5", "pollCreationMessageV6")
# Media fields: (message field, Kind, media type used by whatsmeow's download keys).
_MEDIA_FIELDS: tuple[tuple[str, Kind, str], ...] = (
    ("imageMessage", Kind.IMAGE, "image"), ("videoMessage", Kind.VIDEO, "video"),
    ("ptvMessage", Kind.VIDEO, "video"), ("audioMessage", Kind.AUDIO, "audio"),
    ("documentMessage", Kind.DOCUMENT, "document"), ("stickerMessage", Kind.STICKER, "sticker"),
)


@functools.cache
def _pb() -> SimpleNamespace:
    """neonize's protobuf modules, imported on first use (this loads the Go core)."""
    from neonize.proto import Neonize_pb2 as neonize
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

    return SimpleNamespace(neonize=neonize, e2e=e2e)


# --- JIDs and times ------------------------------------------------------------------------------


def jid_str(jid: Any, *, device: bool = False) -> str:
    """``user@server`` of a neonize ``JID`` (``user[.agent]:device@server`` with ``device=True``)."""
    if jid is None or not jid.Server:
        return ""
    if not jid.User:
        return jid.Server
    if device and jid.RawAgent:
        return f"{jid.User}.{jid.RawAgent}:{jid.Device}@{jid.Server}"
    if device and jid.Device:
        return f"{jid.User}:{jid.Device}@{jid.Server}"
    return f"{jid.User}@{jid.Server}"


def to_jid(value: str) -> Any:
    """A neonize ``JID`` for ``user[.agent][:device]@server``; bare digits become a phone JID.

    neonize's own ``_ensure_jid`` would keep ``:device`` inside ``User``; whatsmeow needs it split.
    Every proto2 ``required`` scalar is set so the JID serialises with ``SerializeToString``.
    """
    value = value.strip()
    user, _, server = value.rpartition("@") if "@" in value else (value.lstrip("+"), "", PHONE_SERVER)
    agent = device = 0
    try:
        if ":" in user:
            user, _, dev = user.partition(":")
            device = int(dev or 0)
            if "." in user:
                user, _, raw = user.partition(".")
                agent = int(raw or 0)
    except ValueError:
        raise _invalid(f"Not a WhatsApp JID: {value!r}", field="jid") from None
    if not user or not server:
        raise _invalid(f"Not a WhatsApp JID: {value!r}", field="jid")
    return _pb().neonize.JID(User=user, RawAgent=agent, Device=device, Integrator=0, Server=server, IsEmpty=False)


def when(value: int | float | None) -> datetime:
    """A UTC datetime from a unix time; milli/micro/nanoseconds are recognised by magnitude
    (neonize encodes some timestamps with ``UnixNano``). 0/absent means "now"."""
    if not value or value < 0:
        return datetime.now(UTC)
    seconds = float(value)
    if seconds > 1e17:
        seconds /= 1e9
    elif seconds > 1e14:
        seconds /= 1e6
    elif seconds > 1e11:
        seconds /= 1e3
    return datetime.fromtimestamp(seconds, UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode() if data else ""


# --- message content -------------------------------------------------------------------------------


def unwrap(message: Any) -> tuple[Any, set[str]]:
    """The innermost content message of the wrappers in ``_WRAPPERS`` and the flags they imply."""
    flags: set[str] = set()
    for _ in range(8):  # wrappers nest a few levels at most; never loop on a malformed message
        for name, flag in _WRAPPERS:
            if message.HasField(name) and getattr(message, name).HasField("message"):
                message = getattr(message, name).message
                if flag:
                    flags.add(flag)
                break
        else:
            return message, flags
    return message, flags


def media_ref(media: Any, media_type: str, *, ptt: bool = False) -> MediaRef:
    """What the port needs to show and re-download an attachment (locator read by ``download_media``)."""
    return MediaRef(
        mime_type=media.mimetype or "application/octet-stream",
        size=int(media.fileLength) if media.fileLength else None,
        sha256=media.fileSHA256.hex(),
        file_name=getattr(media, "fileName", "") or "",
        duration_s=int(getattr(media, "seconds", 0)) or None,
        ptt=ptt,
        locator={
            "direct_path": media.directPath, "media_key": _b64(media.mediaKey),
            "file_enc_sha256": _b64(media.fileEncSHA256), "file_sha256": _b64(media.fileSHA256),
            "file_length": int(media.fileLength), "media_type": media_type,
        },
    )


def text_of(message: Any) -> str:
    """The body of a text message or the caption of a media message ("" otherwise)."""
    message, _ = unwrap(message)
    if message.conversation:
        return message.conversation
    if message.HasField("extendedTextMessage"):
        return message.extendedTextMessage.text
    for name in ("imageMessage", "videoMessage", "documentMessage", "ptvMessage"):
        if message.HasField(name):
            return getattr(message, name).caption
    return ""


def content_of(message: Any) -> tuple[Kind, str, MediaRef | None, dict[str, Any], str] | None:
    """``(kind, text, media, content, quoted_wa_id)`` of a content message, or None when it carries
    no content the port knows (protocol messages, reactions, votes, key distribution only…)."""
    if message.conversation:
        return Kind.TEXT, message.conversation, None, {}, ""
    if message.HasField("extendedTextMessage"):
        ext = message.extendedTextMessage
        return Kind.TEXT, ext.text, None, {}, ext.contextInfo.stanzaID
    for name, kind, media_type in _MEDIA_FIELDS:
        if message.HasField(name):
            media = getattr(message, name)
            ptt = name == "audioMessage" and media.PTT
            content: dict[str, Any] = {"video_note": True} if name == "ptvMessage" else {}
            if getattr(media, "viewOnce", False):
                content["view_once"] = True
            return kind, getattr(media, "caption", ""), media_ref(media, media_type, ptt=ptt), content, \
                media.contextInfo.stanzaID
    if message.HasField("contactMessage"):
        contact = message.contactMessage
        return Kind.CONTACT, contact.displayName, None, {"name": contact.displayName, "vcard": contact.vcard}, \
            contact.contextInfo.stanzaID
    if message.HasField("contactsArrayMessage"):
        array = message.contactsArrayMessage
        contacts = [{"name": c.displayName, "vcard": c.vcard} for c in array.contacts]
        first = contacts[0] if contacts else {"name": "", "vcard": ""}
        return Kind.CONTACT, array.displayName, None, {"name": array.displayName or first["name"],
                                                       "vcard": first["vcard"], "contacts": contacts}, \
            array.contextInfo.stanzaID
    for name in ("locationMessage", "liveLocationMessage"):
        if message.HasField(name):
            loc = getattr(message, name)
            content = {"latitude": loc.degreesLatitude, "longitude": loc.degreesLongitude,
                       "address": getattr(loc, "address", ""), "name": getattr(loc, "name", "")}
            if name == "liveLocationMessage":
                content["live"] = True
            return Kind.LOCATION, getattr(loc, "name", "") or getattr(loc, "caption", ""), None, content, \
                loc.contextInfo.stanzaID
    poll = _poll_of(message)
    if poll is not None:
        options = [option.optionName for option in poll.options]
        return Kind.POLL, poll.name, None, {"name": poll.name, "options": options,
                                            "selectable_count": poll.selectableOptionsCount}, \
            poll.contextInfo.stanzaID
    return None


def _poll_of(message: Any) -> Any:
    for name in _POLL_FIELDS:
        if message.HasField(name):
            return getattr(message, name)
    if message.HasField("pollCreationMessageV4") and message.pollCreationMessageV4.HasField("message"):
        return _poll_of(message.pollCreationMessageV4.message)  # FutureProof wrapper (field 93)
    return None


# --- live messages -----------------------------------------------------------------------------------


def _sender_twins(source: Any) -> tuple[str, str]:
    """(phone JID, LID) of the sender from ``Sender``/``SenderAlt`` (either may be the LID)."""
    phone = lid = ""
    for jid in (source.Sender, source.SenderAlt):
        if jid.Server == PHONE_SERVER and not phone:
            phone = jid_str(jid)
        elif jid.Server == LID_SERVER and not lid:
            lid = jid_str(jid)
    return phone, lid


def message_events(ev: Any) -> list[EngineEvent]:
    """Port events for a ``MessageEv`` (``Neonize_pb2.Message``): the identity twins first, then
    the message, reaction, edit or revoke. Unknown content yields ``Kind.UNKNOWN``; content-free
    messages (key distribution, app-state keys, history notifications, poll votes) yield nothing
    but the identity link."""
    info = ev.Info
    source = info.MessageSource
    chat = jid_str(source.Chat)
    if source.Chat.Server not in CHAT_SERVERS:
        return []
    sender = jid_str(source.Sender) or chat
    phone, lid = _sender_twins(source)
    events: list[EngineEvent] = [IdentityLinked(phone_jid=phone, lid=lid)] if phone and lid else []
    stamp = when(info.Timestamp)
    message, flags = unwrap(ev.Message)
    from_me = bool(source.IsFromMe)
    pb = _pb().e2e
    if message.HasField("reactionMessage"):
        reaction = message.reactionMessage
        events.append(ReactionReceived(chat_jid=chat, sender_jid=sender, target_wa_id=reaction.key.ID,
                                       emoji=reaction.text, timestamp=when(reaction.senderTimestampMS) if
                                       reaction.senderTimestampMS else stamp, from_me=from_me))
        return events
    if message.HasField("protocolMessage"):
        protocol = message.protocolMessage
        if protocol.type == pb.ProtocolMessage.REVOKE and protocol.key.ID:
            events.append(MessageRevoked(chat_jid=chat, sender_jid=sender, target_wa_id=protocol.key.ID,
                                         timestamp=stamp, from_me=from_me))
        elif protocol.type == pb.ProtocolMessage.MESSAGE_EDIT and protocol.key.ID:
            events.append(MessageEdited(chat_jid=chat, sender_jid=sender, target_wa_id=protocol.key.ID,
                                        text=text_of(protocol.editedMessage),
                                        timestamp=when(protocol.timestampMS) if protocol.timestampMS else stamp,
                                        from_me=from_me))
        return events
    found = content_of(message)
    if found is None:
        if any(field.name.endswith("Message") and field.name not in _IGNORED for field, _ in message.ListFields()):
            found = (Kind.UNKNOWN, "", None, {"type": _first_content_field(message)}, "")
        else:
            return events
    kind, text, media, content, quoted = found
    if ev.IsViewOnce or ev.IsViewOnceV2 or ev.IsViewOnceV2Extension or "view_once" in flags:
        content = {**content, "view_once": True}
    if ev.IsEphemeral or "ephemeral" in flags:
        content = {**content, "ephemeral": True}
    events.append(MessageReceived(InboundMessage(
        wa_id=info.ID, chat_jid=chat, sender_jid=sender, timestamp=stamp, kind=kind, text=text, from_me=from_me,
        sender_phone_jid=phone, sender_lid=lid, push_name=info.Pushname, media=media, quoted_wa_id=quoted,
        content=content,
    )))
    return events


# Fields that are plumbing, not content: never reported as an UNKNOWN message.
_IGNORED = frozenset({"senderKeyDistributionMessage", "fastRatchetKeySenderKeyDistributionMessage",
                      "pollUpdateMessage", "encReactionMessage", "keepInChatMessage", "pinInChatMessage",
                      "placeholderMessage", "secretEncryptedMessage", "stickerSyncRmrMessage"})


def _first_content_field(message: Any) -> str:
    for field, _ in message.ListFields():
        if field.name not in _IGNORED and field.name != "messageContextInfo":
            return field.name
    return ""


# --- receipts and presence ----------------------------------------------------------------------------


def receipt_event(ev: Any) -> ReceiptReceived | None:
    """``ReceiptEv`` → ``ReceiptReceived`` for delivered/read/played (own-device variants included).

    ``SERVER_ERROR`` is neonize's encoding of whatsmeow ``played-self`` (bug), so it counts as
    played; an unset ``Type`` is a real ``server-error`` and is dropped, like sender/retry/inactive/
    peer/history-sync receipts, which say nothing about a message being delivered or read.
    """
    receipt = _pb().neonize.Receipt
    if not ev.HasField("Type"):
        return None
    status = {
        receipt.DELIVERED: ReceiptStatus.DELIVERED, receipt.READ: ReceiptStatus.READ,
        receipt.READ_SELF: ReceiptStatus.READ, receipt.PLAYED: ReceiptStatus.PLAYED,
        receipt.PLAYED_SELF: ReceiptStatus.PLAYED, receipt.SERVER_ERROR: ReceiptStatus.PLAYED,
    }.get(ev.Type)
    source = ev.MessageSource
    if status is None or not ev.MessageIDs or source.Chat.Server not in CHAT_SERVERS:
        return None
    return ReceiptReceived(chat_jid=jid_str(source.Chat), sender_jid=jid_str(source.Sender) or jid_str(source.Chat),
                           wa_ids=tuple(ev.MessageIDs), status=status, timestamp=when(ev.Timestamp))


def chat_presence_event(ev: Any) -> ChatPresenceChanged:
    """Typing indicators: ``composing`` with media ``audio`` means recording a voice note (§5)."""
    chat_presence = _pb().neonize.ChatPresence
    if ev.State == chat_presence.PAUSED:
        state = ChatState.PAUSED
    else:
        state = ChatState.RECORDING if ev.Media == chat_presence.AUDIO else ChatState.COMPOSING
    source = ev.MessageSource
    return ChatPresenceChanged(chat_jid=jid_str(source.Chat), sender_jid=jid_str(source.Sender), state=state)


def presence_event(ev: Any) -> PresenceChanged:
    """Online/offline; a hidden last-seen arrives as Go's zero time (negative unix seconds)."""
    last = datetime.fromtimestamp(ev.LastSeen, UTC) if ev.LastSeen > 0 else None
    return PresenceChanged(jid=jid_str(ev.From), available=not ev.Unavailable, last_seen=last)


# --- history sync ------------------------------------------------------------------------------------


def history_events(ev: Any, own_jid: str = "") -> list[EngineEvent]:
    """``HistorySyncEv`` → the phone/LID twins it carries, then one ``HistoryBatch``.

    ``WebMessageInfo`` keys give chat, author and direction; messages without content (system stubs,
    reactions, protocol messages) are skipped. ``own_jid`` is the author of ``fromMe`` messages.
    """
    data = ev.Data
    events: list[EngineEvent] = [IdentityLinked(phone_jid=m.pnJID, lid=m.lidJID)
                                 for m in data.phoneNumberToLidMappings if m.pnJID and m.lidJID]
    messages: list[InboundMessage] = []
    for conversation in data.conversations:
        if conversation.pnJID and conversation.lidJID:
            events.append(IdentityLinked(phone_jid=conversation.pnJID, lid=conversation.lidJID))
        for item in conversation.messages:
            inbound = history_message(item.message, conversation.ID, own_jid)
            if inbound is not None:
                messages.append(inbound)
    progress = data.progress if data.HasField("progress") else None
    if messages or progress is not None:
        events.append(HistoryBatch(messages=tuple(messages), progress=progress))
    return events


def history_message(web: Any, chat_id: str, own_jid: str) -> InboundMessage | None:
    """One ``WebMessageInfo`` of a history blob as an ``InboundMessage`` (None if not content)."""
    key = web.key
    chat = key.remoteJID or chat_id
    if chat.rpartition("@")[2] not in CHAT_SERVERS or not key.ID or not web.HasField("message"):
        return None
    message, flags = unwrap(web.message)
    found = content_of(message)
    if found is None:
        return None
    kind, text, media, content, quoted = found
    if "view_once" in flags:
        content = {**content, "view_once": True}
    author = key.participant or web.participant
    sender = _strip_device((own_jid or author or chat) if key.fromMe else (author or chat))
    phone = sender if sender.endswith("@" + PHONE_SERVER) else ""
    lid = sender if sender.endswith("@" + LID_SERVER) else ""
    return InboundMessage(wa_id=key.ID, chat_jid=_strip_device(chat), sender_jid=sender,
                          timestamp=when(web.messageTimestamp), kind=kind, text=text, from_me=bool(key.fromMe),
                          sender_phone_jid=phone, sender_lid=lid, push_name=web.pushName, media=media,
                          quoted_wa_id=quoted, content=content)


def _strip_device(jid: str) -> str:
    user, at, server = jid.partition("@")
    return f"{user.partition(':')[0]}{at}{server}" if at else jid


# --- query results ----------------------------------------------------------------------------------


def group_participant(p: Any) -> GroupParticipant:
    phone = jid_str(p.PhoneNumber) or (jid_str(p.JID) if p.JID.Server == PHONE_SERVER else "")
    lid = jid_str(p.LID) or (jid_str(p.JID) if p.JID.Server == LID_SERVER else "")
    return GroupParticipant(jid=jid_str(p.JID) or phone or lid, phone_jid=phone, lid=lid, is_admin=p.IsAdmin,
                            is_super_admin=p.IsSuperAdmin, error=p.Error)


def group_info(info: Any) -> GroupInfo:
    """neonize ``GroupInfo`` → port ``GroupInfo`` (``GroupCreated`` is unix seconds, 0 = unknown)."""
    created = datetime.fromtimestamp(info.GroupCreated, UTC) if info.GroupCreated > 0 else None
    return GroupInfo(
        jid=jid_str(info.JID), name=info.GroupName.Name, topic=info.GroupTopic.Topic,
        owner_jid=jid_str(info.OwnerPN) or jid_str(info.OwnerJID), created_at=created,
        is_announce=info.GroupAnnounce.IsAnnounce, is_locked=info.GroupLocked.isLocked,
        is_ephemeral=info.GroupEphemeral.IsEphemeral,
        participants=tuple(group_participant(p) for p in info.Participants),
    )


def identity_links(participants: Any) -> list[IdentityLinked]:
    """Twins revealed by group participant lists (``PhoneNumber``/``LID`` next to ``JID``)."""
    links = []
    for p in participants:
        converted = group_participant(p)
        if converted.phone_jid and converted.lid:
            links.append(IdentityLinked(phone_jid=converted.phone_jid, lid=converted.lid))
    return links


def on_whatsapp(query: str, response: Any | None) -> OnWhatsApp:
    """An ``IsOnWhatsAppResponse``; its JID may be the LID (whatsmeow queries with LID addressing),
    in which case the phone JID built from the query is reported and the caller links the twins."""
    digits = "".join(ch for ch in query if ch.isascii() and ch.isdigit())
    if response is None or not response.IsIn:
        return OnWhatsApp(query=query, jid=f"{digits}@{PHONE_SERVER}" if digits else "", is_on_whatsapp=False)
    jid = jid_str(response.JID)
    if response.JID.Server == LID_SERVER and digits:
        jid = f"{digits}@{PHONE_SERVER}"
    name = response.VerifiedName.Details.verifiedName if response.HasField("VerifiedName") else ""
    return OnWhatsApp(query=query, jid=jid, is_on_whatsapp=True, verified_name=name)


# --- outgoing messages -------------------------------------------------------------------------------
# whatsmeow's builders (BuildReaction, BuildRevoke, BuildEdit, BuildPollCreation) re-done in Python:
# neonize's versions need a registered Go client (``build_revoke`` calls ``get_me()``, which aborts
# the process on an unregistered client) or fetch URLs and need ffmpeg (media builders).

MEDIA_KINDS = {Kind.IMAGE: "MediaImage", Kind.STICKER: "MediaImage", Kind.VIDEO: "MediaVideo",
               Kind.AUDIO: "MediaAudio", Kind.DOCUMENT: "MediaDocument"}


def _invalid(message: str, **details: Any) -> WhatsAppError:
    return WhatsAppError(ErrorCode.VALIDATION_ERROR, message, details=details or None)


def quote_context(wa_id: str, participant: str, content: Any | None) -> Any:
    """``contextInfo`` of a reply: the quoted id, its author and (when known) its content with its
    own quote removed — one level, as WhatsApp clients do."""
    context = _pb().e2e.ContextInfo(stanzaID=wa_id)
    if participant:
        context.participant = jid_str(to_jid(participant))
    if content is not None:
        context.quotedMessage.CopyFrom(content)
        for field, value in context.quotedMessage.ListFields():
            if field.message_type is not None and "contextInfo" in field.message_type.fields_by_name:
                value.ClearField("contextInfo")
    return context


def build_message(message: OutgoingMessage, *, context: Any | None = None, upload: Any | None = None,
                  mime: str = "") -> Any:
    """The ``waE2E.Message`` for a port message; media kinds need the ``UploadResponse`` of its bytes.

    Text without a quote is a plain ``conversation`` (neonize's ``send_message(str)`` always makes an
    ``extendedTextMessage``); polls get the 32-byte ``messageSecret`` their votes are encrypted with.
    """
    e2e = _pb().e2e
    kind = message.kind
    if kind == Kind.TEXT:
        if context is None:
            return e2e.Message(conversation=message.text)
        return e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(text=message.text, contextInfo=context))
    if kind in MEDIA_KINDS:
        part, field = _media_part(message, upload, mime)
    elif kind == Kind.CONTACT:
        if not (message.vcard or message.contact_name):
            raise _invalid("A contact needs a vCard or a name", field="vcard")
        vcard = message.vcard or f"BEGIN:VCARD\nVERSION:3.0\nFN:{message.contact_name}\nEND:VCARD"
        part, field = e2e.ContactMessage(displayName=message.contact_name, vcard=vcard), "contactMessage"
    elif kind == Kind.LOCATION:
        if message.latitude is None or message.longitude is None:
            raise _invalid("A location needs latitude and longitude", field="latitude")
        part, field = e2e.LocationMessage(degreesLatitude=message.latitude, degreesLongitude=message.longitude,
                                          name=message.text, address=message.address), "locationMessage"
    elif kind == Kind.POLL:
        options = list(message.poll_options)
        if not 2 <= len(options) <= 12 or len(set(options)) != len(options):
            raise _invalid("A poll needs 2 to 12 distinct options", field="poll_options")
        selectable = message.poll_selectable_count if 0 <= message.poll_selectable_count <= len(options) else 0
        part = e2e.PollCreationMessage(name=message.text, selectableOptionsCount=selectable,
                                       options=[e2e.PollCreationMessage.Option(optionName=o) for o in options])
        field = "pollCreationMessage"
    else:
        raise _invalid(f"Cannot send a message of kind {kind}", field="kind")
    if context is not None:
        part.contextInfo.CopyFrom(context)
    built = e2e.Message(**{field: part})
    if kind == Kind.POLL:
        built.messageContextInfo.messageSecret = os.urandom(32)
    return built


def _media_part(message: OutgoingMessage, upload: Any, mime: str) -> tuple[Any, str]:
    e2e = _pb().e2e
    common = {"URL": upload.url, "directPath": upload.DirectPath, "mediaKey": upload.MediaKey,
              "fileEncSHA256": upload.FileEncSHA256, "fileSHA256": upload.FileSHA256,
              "fileLength": upload.FileLength or len(message.media or b""), "mediaKeyTimestamp": int(time.time())}
    if message.kind == Kind.IMAGE:
        return e2e.ImageMessage(mimetype=mime, caption=message.text, **common,
                                **image_meta(message.media or b"")), "imageMessage"
    if message.kind == Kind.VIDEO:
        return e2e.VideoMessage(mimetype=mime, caption=message.text, **common), "videoMessage"
    if message.kind == Kind.AUDIO:
        if message.ptt and mime.split(";")[0] == "audio/ogg":
            mime = "audio/ogg; codecs=opus"  # what WhatsApp expects of a voice note
        return e2e.AudioMessage(mimetype=mime, PTT=message.ptt, **common), "audioMessage"
    if message.kind == Kind.DOCUMENT:
        name = message.file_name or "file"
        return e2e.DocumentMessage(mimetype=mime, fileName=name, title=name, caption=message.text,
                                   **common), "documentMessage"
    return e2e.StickerMessage(mimetype=message.mime_type or "image/webp", **common), "stickerMessage"


def message_key(chat: Any, wa_id: str, sender: str, own_users: tuple[str, ...]) -> Any:
    """whatsmeow ``BuildMessageKey``: ours unless ``sender`` is someone else; in a group the author
    of someone else's message goes in ``participant`` (admin revoke, reacting to a member)."""
    from neonize.proto.waCommon.WACommon_pb2 import MessageKey

    user = sender.partition("@")[0].partition(":")[0]
    mine = not sender or user in own_users
    key = MessageKey(remoteJID=jid_str(chat), fromMe=mine, ID=wa_id)
    if not mine and chat.Server not in (PHONE_SERVER, LID_SERVER):
        key.participant = jid_str(to_jid(sender))
    return key


def reaction_message(key: Any, emoji: str) -> Any:
    e2e = _pb().e2e
    return e2e.Message(reactionMessage=e2e.ReactionMessage(key=key, text=emoji,
                                                           senderTimestampMS=int(time.time() * 1000)))


def edit_message(key: Any, text: str) -> Any:
    e2e = _pb().e2e
    protocol = e2e.ProtocolMessage(key=key, type=e2e.ProtocolMessage.MESSAGE_EDIT, timestampMS=int(time.time() * 1000),
                                   editedMessage=e2e.Message(conversation=text))
    return e2e.Message(editedMessage=e2e.FutureProofMessage(message=e2e.Message(protocolMessage=protocol)))


def revoke_message(key: Any) -> Any:
    e2e = _pb().e2e
    return e2e.Message(protocolMessage=e2e.ProtocolMessage(key=key, type=e2e.ProtocolMessage.REVOKE))


def sniff_mime(data: bytes) -> str:
    """MIME type from the bytes (libmagic, a neonize dependency) when the caller gave none."""
    try:
        import magic

        return magic.from_buffer(data[:8192], mime=True) or "application/octet-stream"
    except Exception:
        return "application/octet-stream"


def image_meta(data: bytes) -> dict[str, Any]:
    """Width, height and a ≤200 px JPEG thumbnail (shown before download); best effort."""
    try:
        from io import BytesIO

        from PIL import Image

        with Image.open(BytesIO(data)) as image:
            width, height = image.size
            thumb = image.convert("RGB")
            thumb.thumbnail((200, 200))
            out = BytesIO()
            thumb.save(out, format="JPEG", quality=60)
        return {"width": width, "height": height, "JPEGThumbnail": out.getvalue()}
    except Exception:
        return {}
