"""Outgoing messages and what WhatsApp does with them: recipient checks (§2, §4.3), send faults, the
record of what reached the network, deduplication by message id, and the receipts that follow (§5)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from whatsapp import jids
from whatsapp.engine.base import (
    ChatState,
    Kind,
    MediaRef,
    OutgoingMessage,
    PresenceChanged,
    ReceiptReceived,
    ReceiptStatus,
    SendResult,
)
from whatsapp.engine.simulator import network, world
from whatsapp.engine.simulator.db import retrying
from whatsapp.engine.simulator.models import MediaBlob, NetworkRecord
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models.bulk import insert_one

DELIVERED_AFTER_S = 1.5  # WhatsApp time until the recipient's phone acknowledges
READ_AFTER_S = 4.0  # … and until a contact who reads opens the chat
MEDIA_KINDS = (Kind.IMAGE, Kind.VIDEO, Kind.AUDIO, Kind.DOCUMENT, Kind.STICKER)
# whatsmeow's <enc mediatype> for DMs (§4.1), kept in the record as the network would see it.
_MEDIATYPE = {Kind.IMAGE: "image", Kind.VIDEO: "video", Kind.DOCUMENT: "document", Kind.STICKER: "sticker",
              Kind.CONTACT: "vcard"}


def _server_error(code: int, error: ErrorCode, why: str) -> WhatsAppError:
    """A send refused by the server's ack, as whatsmeow words it (``server returned error N``)."""
    return WhatsAppError(error, f"server returned error {code}: {why}",
                         details={"server_error": code, "whatsmeow": f"server returned error {code}"})


class MessagingMixin:
    """The messaging half of :class:`SimulatorEngine`."""

    # --- sending -----------------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> SendResult:
        self.require_online("send")
        to = self._valid_jid(message.to_jid)
        wa_id = message.wa_id or world.new_companion_message_id()
        return self._send_once("send", wa_id, to, lambda: self._content(message), posting=True, receipts=True)

    def react(self, chat_jid: str, target_wa_id: str, target_sender_jid: str, emoji: str,
              *, wa_id: str) -> SendResult:
        return self._send_protocol("reaction", chat_jid, wa_id, {
            "type": "reaction", "target_wa_id": target_wa_id, "target_sender_jid": target_sender_jid,
            "emoji": emoji, "removed": emoji == ""})

    def edit(self, chat_jid: str, target_wa_id: str, text: str, *, wa_id: str) -> SendResult:
        return self._send_protocol("edit", chat_jid, wa_id, {
            "type": "text", "edit": "1", "target_wa_id": target_wa_id, "text": text})

    def revoke(self, chat_jid: str, target_wa_id: str, target_sender_jid: str, *, wa_id: str) -> SendResult:
        me = self._me()[0]
        admin_revoke = bool(target_sender_jid) and jids.is_valid(target_sender_jid) and \
            jids.normalize(target_sender_jid) not in (me, self._me()[1])
        return self._send_protocol("revoke", chat_jid, wa_id, {
            "type": "text", "edit": "8" if admin_revoke else "7", "target_wa_id": target_wa_id,
            "target_sender_jid": target_sender_jid})

    def _send_protocol(self, kind: str, chat_jid: str, wa_id: str, content: dict[str, Any]) -> SendResult:
        self.require_online(kind)
        to = self._valid_jid(chat_jid)
        wa_id = wa_id or world.new_companion_message_id()
        return self._send_once(kind, wa_id, to, lambda: content, posting=False, receipts=False)

    def _send_once(self, kind: str, wa_id: str, to: str, content: Callable[[], dict[str, Any]], *,
                   posting: bool, receipts: bool) -> SendResult:
        """One stanza with its id: an id the network already has is the same message (its first result,
        whatever the route, content or pending faults say now); otherwise routed, refused by a pending
        fault, or recorded."""
        if self._fault_may_strike(self._send_fault_kinds(to)):
            # A refusal is pending: a resent id must not consume it, so look the id up first.
            previous = self._previous_send(wa_id)
            if previous is not None:
                return previous
            route, twins = self._checked_route(to, posting=posting)
            self.reveal(*twins)
            self._send_faults(to)
            return self._record_send(kind, wa_id, to, {**route, **content()}, receipts=receipts)
        # Nothing pending: the unique (device, wa_id) constraint dedupes, with no read first. Whatever
        # refuses the stanza is checked against a previous send before it is raised.
        try:
            route, twins = self._checked_route(to, posting=posting)
        except Exception:
            previous = self._previous_send(wa_id)
            if previous is not None:
                return previous
            raise
        try:
            payload = {**route, **content()}
        except Exception:
            previous = self._previous_send(wa_id)
            if previous is not None:
                return previous
            self.reveal(*twins)  # the route was looked up before the content was refused
            raise
        return self._record_send(kind, wa_id, to, payload, receipts=receipts, twins=twins)

    def _record_send(self, kind: str, wa_id: str, to: str, payload: dict[str, Any], *, receipts: bool,
                     twins: tuple[str, str] = ("", "")) -> SendResult:
        at = timezone.now()

        def insert() -> None:
            # A send is the hot path of every benchmark: one plain INSERT, no model instance.
            values = {"device_id": self.device_id, "kind": kind, "wa_id": wa_id, "chat_jid": to, "payload": payload,
                      "created_at": at}
            if connection.in_atomic_block:  # a savepoint: a duplicate must not break the caller's transaction
                with transaction.atomic():
                    insert_one(NetworkRecord, **values)
                    return
            insert_one(NetworkRecord, **values)

        try:
            retrying(insert, atomic=False)  # one statement: atomic on its own
        except IntegrityError:  # the network has this id already (sent before, or raced in): one message
            previous = self._previous_send(wa_id)
            if previous is None:
                raise
            return previous
        self.reveal(*twins)
        if receipts:
            self._schedule_receipts(to, wa_id)
        return SendResult(wa_id=wa_id, timestamp=at)

    def _previous_send(self, wa_id: str) -> SendResult | None:
        record = retrying(lambda: NetworkRecord.objects.filter(device_id=self.device_id, wa_id=wa_id).first(),
                          atomic=False)
        return SendResult(wa_id=record.wa_id, timestamp=record.created_at) if record is not None else None

    @staticmethod
    def _valid_jid(jid: str) -> str:
        try:
            return jids.normalize(jid)
        except ValueError:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"not a WhatsApp JID: {jid!r}",
                                details={"field": "to", "jid": jid}) from None

    def _checked_route(self, to: str, *, posting: bool) -> tuple[dict[str, Any], tuple[str, str]]:
        """:meth:`_route` from the cached world; a refusal is confirmed against the database first (the
        recipient may have joined the world since it was cached)."""
        try:
            return self._route(to, posting=posting)
        except WhatsAppError:
            self._forget_world()
            return self._route(to, posting=posting)

    def _route(self, to: str, *, posting: bool) -> tuple[dict[str, Any], tuple[str, str]]:
        """Where the stanza goes, or the error WhatsApp gives for this recipient; with the phone/LID pair
        the server discloses for a DM (for :meth:`reveal`, ``("", "")`` for a group)."""
        if jids.is_group(to):
            group = self._group(to)
            if group is None:
                raise WhatsAppError(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, f"no group {to}", details={
                    "jid": to, "whatsmeow": "failed to get group members: info query returned status 404: "
                    "item-not-found"})
            role = group.role_of(self._me()[0])
            if not role:
                raise WhatsAppError(ErrorCode.GROUP_POSTING_RESTRICTED, "this account is not a participant of the "
                                    "group", details={"jid": to, "whatsmeow": "failed to get group members: info "
                                                      "query returned status 403: forbidden"})
            if posting and group.is_announce and role == "member":
                raise WhatsAppError(ErrorCode.GROUP_POSTING_RESTRICTED, "only admins can send messages to this "
                                    "group", details={"jid": to, "reason": "announcement", "server_error": 403})
            return {"to": to, "participants": len(group.participants)}, ("", "")
        contact = self._contact(to)
        phone, lid = world.twins_of(to, contact)
        if jids.is_lid(to) and contact is None:
            # A LID with no phone-number mapping: the server rejects the stanza (§4.3).
            raise _server_error(479, ErrorCode.MESSAGE_SEND_FAILED, "invalid stanza (smax-invalid) for a LID "
                                "without phone-number mapping")
        if contact is None or not contact.on_whatsapp:
            raise WhatsAppError(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, f"{to} is not on WhatsApp", details={
                "jid": to, "whatsmeow": f"no LID found for {to} from server"})
        # Since 2026-07 whatsmeow sends every DM to the LID, with the phone number alongside.
        return {"to": to, "routed_to": lid or phone, "peer_recipient_pn": phone}, (phone, lid)

    @staticmethod
    def _send_fault_kinds(to: str) -> tuple[str, ...]:
        return ("rate-limit", "479", "463") + (("posting-restricted",) if jids.is_group(to) else ())

    def _send_faults(self, to: str) -> None:
        """Pending refusals injected with ``simulate fault`` (each strikes once)."""
        fault = network.take_fault(self.device_id, self._send_fault_kinds(to))
        if fault is None:
            return
        # The retry-after is simulated time too (--seconds, or the member's default), scaled like every delay.
        retry_after = self.scaled(fault.seconds if fault.seconds is not None
                                  else ErrorCode.PROVIDER_RATE_LIMITED.retry_after_s)
        if fault.kind == "rate-limit":
            raise WhatsAppError(ErrorCode.PROVIDER_RATE_LIMITED, "info query returned status 429: rate-overlimit",
                                details={"iq_error": 429, "text": "rate-overlimit"}, retry_after_s=retry_after)
        if fault.kind == "479":
            raise _server_error(479, ErrorCode.MESSAGE_SEND_FAILED, "invalid stanza sent (smax-invalid)")
        if fault.kind == "463":
            error = _server_error(463, ErrorCode.PROVIDER_RATE_LIMITED, "reach-out time-lock: WhatsApp refuses "
                                  "messages to new contacts for now")
            raise WhatsAppError(error.code, error.message, details=error.details, retry_after_s=retry_after)
        raise WhatsAppError(ErrorCode.GROUP_POSTING_RESTRICTED, "the group refuses posts from this account "
                            "(simulated fault)", details={"jid": to})

    @staticmethod
    def _content(message: OutgoingMessage) -> dict[str, Any]:
        """The message body as the network sees it; media keeps its size and sha256 only."""
        kind = Kind(message.kind)
        content: dict[str, Any] = {"kind": kind.value, "type": "text"}
        if message.quoted_wa_id:
            content["quoted"] = {"wa_id": message.quoted_wa_id, "sender_jid": message.quoted_sender_jid}
        if kind in MEDIA_KINDS:
            if not message.media:
                raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"a {kind.value} message needs media bytes",
                                    details={"field": "media"})
            mediatype = "ptt" if kind == Kind.AUDIO and message.ptt else "audio" if kind == Kind.AUDIO \
                else _MEDIATYPE[kind]
            content.update(type="media", mediatype=mediatype, caption=message.text, media={
                "mime_type": message.mime_type, "size": len(message.media),
                "sha256": hashlib.sha256(message.media).hexdigest(), "file_name": message.file_name,
                "ptt": message.ptt})
        elif kind == Kind.LOCATION:
            if message.latitude is None or message.longitude is None:
                raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "a location needs latitude and longitude",
                                    details={"field": "latitude"})
            content["location"] = {"latitude": message.latitude, "longitude": message.longitude,
                                   "address": message.address, "name": message.text}
        elif kind == Kind.CONTACT:
            if not message.vcard:
                raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "a contact needs a vCard", details={"field": "vcard"})
            content.update(mediatype="vcard", contact={"name": message.contact_name, "vcard": message.vcard})
        elif kind == Kind.POLL:
            if len(message.poll_options) < 2:
                raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "a poll needs at least two options",
                                    details={"field": "poll_options"})
            selectable = message.poll_selectable_count
            if not 0 <= selectable <= len(message.poll_options):
                selectable = 0  # BuildPollCreation's rule
            content.update(type="poll", poll={"name": message.text, "options": list(message.poll_options),
                                              "selectable_count": selectable})
        elif kind == Kind.TEXT:
            if not message.text:
                raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "empty text", details={"field": "text"})
            content["text"] = message.text
        else:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"cannot send a {kind.value} message",
                                details={"field": "kind"})
        return content

    # --- receipts ----------------------------------------------------------------------------

    def _schedule_receipts(self, to: str, wa_id: str) -> None:
        """Delivered from every recipient after a moment; read later from those whose world entry reads."""
        if jids.is_group(to):
            group = self._group(to)
            me = self._me()[0]
            members = [p["jid"] for p in group.participants if p["jid"] != me] if group else []
        else:
            members = [to]
        for index, member in enumerate(members):
            contact = self._contact(member)
            if contact is None or not contact.on_whatsapp:
                continue
            sender = member if not jids.is_group(to) else (contact.phone_jid or member)
            stagger = 0.1 * index
            self.later(DELIVERED_AFTER_S + stagger, self._receipt, to, sender, wa_id, ReceiptStatus.DELIVERED)
            if contact.reads:
                self.later(READ_AFTER_S + stagger, self._receipt, to, sender, wa_id, ReceiptStatus.READ)

    def _receipt(self, chat_jid: str, sender_jid: str, wa_id: str, status: ReceiptStatus) -> None:
        self.emit_when_online(ReceiptReceived(chat_jid=chat_jid, sender_jid=sender_jid, wa_ids=(wa_id,),
                                              status=status, timestamp=timezone.now()))

    # --- receipts, presence and chat state we send ---------------------------------------------

    def mark_read(self, chat_jid: str, sender_jid: str, wa_ids: list[str], timestamp: datetime) -> None:
        self.require_online("mark_read")
        chat = self._valid_jid(chat_jid)
        if jids.is_group(chat) and not sender_jid:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "marking group messages read needs their sender",
                                details={"field": "sender_jid"})
        self._record("read", "", {"type": "read", "sender_jid": sender_jid, "wa_ids": list(wa_ids),
                                  "timestamp": timestamp.isoformat()}, chat_jid=chat)

    def set_presence(self, available: bool) -> None:
        self.require_online("set_presence")
        self._record("presence", "", {"available": available, "name": self._me()[2]})

    def send_chat_state(self, chat_jid: str, state: ChatState) -> None:
        self.require_online("send_chat_state")
        chat = self._valid_jid(chat_jid)
        state = ChatState(state)
        # The wire has composing/paused; recording is composing with media="audio".
        wire = {"state": "paused" if state == ChatState.PAUSED else "composing",
                "media": "audio" if state == ChatState.RECORDING else ""}
        self._record("chat_state", "", {"state": state.value, "wire": wire}, chat_jid=chat)

    def subscribe_presence(self, jid: str) -> None:
        self.require_online("subscribe_presence")
        target = self._valid_jid(jid)
        self._record("subscribe_presence", "", {"jid": target}, chat_jid=target)
        contact = world.contact_for(target)
        if contact is not None and contact.on_whatsapp:  # the server answers with the current presence
            last_seen = None if contact.online else timezone.now() - timedelta(minutes=42)
            self.later(0.2, self.emit_when_online, PresenceChanged(jid=target, available=contact.online,
                                                                   last_seen=last_seen))

    # --- media -------------------------------------------------------------------------------

    def download_media(self, media: MediaRef) -> bytes:
        # whatsmeow fetches the media servers' addresses over the live connection first, so a
        # download needs the session online, and the ``timeout`` fault strikes it like any round trip.
        self.require_online("download_media")
        token = (media.locator or {}).get("blob", "")
        blob = retrying(lambda: MediaBlob.objects.filter(token=token).first(), atomic=False) if token else None
        if blob is None or blob.expired:
            raise WhatsAppError(ErrorCode.MEDIA_EXPIRED, "download failed with status code 410",
                                details={"http_status": 410})
        data = bytes(blob.data)
        if media.sha256 and hashlib.sha256(data).hexdigest() != media.sha256:
            raise WhatsAppError(ErrorCode.MEDIA_DOWNLOAD_FAILED, "invalid media SHA256 hash",
                                details={"reason": "ErrInvalidMediaSHA256"})
        return data
