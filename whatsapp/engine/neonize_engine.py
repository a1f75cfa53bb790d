"""The real WhatsApp engine: one neonize (whatsmeow) client for one device, behind the port.

Only the device runner imports this module, and neonize itself is imported lazily: loading it
starts the Go runtime, which must never happen in a process that later forks (neonize-notes P1).

:class:`NeonizeEngine` implements the port's operations (messages, receipts and presence, media,
groups, contacts, probe, logout) and converts data events. Its base,
:class:`~whatsapp.engine.neonize_lifecycle.NeonizeLifecycle`, owns the client: connect, stop, the
QR window and pairing, login status, and ``_call`` — the gate every call into the Go core here goes
through; the pitfalls that concern the connection are listed there. Those handled here
(reference/neonize-notes.md):

* **Go-backed builders panic** (P2): reactions/edits/revokes are built in Python from the identity
  learned at ``Connected``, never by neonize's Go-backed builders.
* **URLs, ffmpeg** (P9): media goes up as bytes and messages are built here, so neonize never
  fetches a URL without a timeout nor needs ffmpeg.

Custom message ids are impossible: neonize's ``SendMessage`` FFI takes only (uuid, JID, message), so
whatsmeow generates the id and :class:`~whatsapp.engine.base.SendResult` reports it.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from whatsapp.engine import base
from whatsapp.engine import neonize_errors as errs
from whatsapp.engine import neonize_events as conv
from whatsapp.engine.neonize_lifecycle import NeonizeLifecycle
from whatsapp.errors import ErrorCode, WhatsAppError

logger = logging.getLogger("whatsapp.engine.neonize")

_NO_PICTURE = ("does not have a profile picture", "has hidden their profile picture")
_DOWNLOAD_TYPES = {"image": "MediaImage", "sticker": "MediaImage", "video": "MediaVideo",
                   "audio": "MediaAudio", "document": "MediaDocument"}


class NeonizeEngine(NeonizeLifecycle):
    """neonize 0.5.2 behind the port (one client, one device, one process).

    ``config.options``: ``connect_wait_s`` (3), ``stop_wait_s`` (5), ``pair_wait_s`` (15),
    ``qr_grace_s`` (10), ``proxy`` (``socks5://…``/``http://…``).
    """

    name = "neonize"

    def __init__(self, config: base.EngineConfig, sink: base.EventSink) -> None:
        super().__init__(config, sink)
        self._prober: threading.Thread | None = None
        self._recent: OrderedDict[str, tuple[str, Any]] = OrderedDict()  # wa_id -> (sender, content), for quotes

    # --- session and health -------------------------------------------------------------------------

    def logout(self) -> None:
        """Unlink when online, and in every case delete the device row (its key tables cascade): a
        remote logout that cannot happen (offline) must still leave no session behind."""
        if self._logged_in:
            try:
                self._call(lambda c: c.logout(), op="logout")
            except WhatsAppError as error:
                logger.warning("device %s: remote logout failed (%s); deleting the keys locally",
                               self.config.device_id, error.code.code)
        self._stop_client(self._stop_wait_s)
        jid = self._stored_device(refresh=True)
        if jid:
            self._delete_device(jid)
        with self._lock:
            self._session_jid, self._stored, self._me = "", "", ("", "", "")

    def is_connected(self) -> bool:
        try:
            return self._logged_in and bool(self._call(lambda c: c.is_connected, op="probe"))
        except WhatsAppError:
            return False

    def probe(self, timeout_s: float) -> None:
        """A usync round trip for our own JID on a helper thread (WhatsApp's IQ timeout is 75 s; only
        ``timeout_s`` is waited for, and a probe still hanging fails the next one at once)."""
        if not self._logged_in or not self._me[0]:
            raise WhatsAppError(ErrorCode.HEALTH_CHECK_FAILED, details={"reason": "not connected"})
        if self._prober is not None and self._prober.is_alive():
            raise WhatsAppError(ErrorCode.HEALTH_CHECK_FAILED, details={"reason": "previous probe still waiting"})
        own = conv.to_jid(self._own()[0])
        outcome: list[WhatsAppError | None] = []

        def round_trip() -> None:
            try:
                if not self._call(lambda c: c.is_connected, op="probe"):
                    raise WhatsAppError(ErrorCode.CONNECTION_LOST)
                self._call(lambda c: c.get_user_info(own), op="probe")
                outcome.append(None)
            except WhatsAppError as error:
                outcome.append(error)

        self._prober = threading.Thread(target=round_trip, name="neonize-probe", daemon=True)
        self._prober.start()
        self._prober.join(timeout_s)
        if not outcome or outcome[0] is not None:
            reason = outcome[0].code.code if outcome and outcome[0] else "timeout"
            raise WhatsAppError(ErrorCode.HEALTH_CHECK_FAILED, details={"reason": reason, "timeout_s": timeout_s})

    def has_session(self) -> bool:
        return bool(self._stored_device())

    def _delete_device(self, jid: str) -> None:
        store = self.config.session_store
        try:
            if store.startswith("postgres"):
                import psycopg

                with psycopg.connect(store) as connection:
                    connection.execute("DELETE FROM whatsmeow_device WHERE jid = %s", (jid,))
            else:
                import sqlite3

                with contextlib.closing(sqlite3.connect(store, timeout=10)) as connection:
                    connection.execute("PRAGMA foreign_keys = ON")
                    connection.execute("DELETE FROM whatsmeow_device WHERE jid = ?", (jid,))
                    connection.commit()
        except Exception as exc:
            code, facts = errs.classify_text(f"failed to open database: {exc}", op="store")
            raise WhatsAppError(code, "Could not delete the WhatsApp session keys", details=facts.details()) from exc

    # --- messages -------------------------------------------------------------------------------------

    def send(self, message: base.OutgoingMessage) -> base.SendResult:
        """Send any Kind. The id is whatsmeow's: neonize cannot send with ``message.wa_id``."""
        self._own()
        to = conv.to_jid(message.to_jid)
        context = None
        if message.quoted_wa_id:
            with self._lock:
                sender, content = self._recent.get(message.quoted_wa_id, ("", None))
            participant = message.quoted_sender_jid or sender or (conv.jid_str(to) if to.Server != "g.us" else "")
            context = conv.quote_context(message.quoted_wa_id, participant, content)
        upload, mime = None, ""
        if message.kind in conv.MEDIA_KINDS:
            from neonize.utils.enum import MediaType

            data = message.media  # bytes only: given a URL, neonize would fetch it without a timeout
            if not data:
                raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "Media messages need the file's bytes",
                                    details={"field": "media"})
            mime = message.mime_type or conv.sniff_mime(data)
            media_type = MediaType[conv.MEDIA_KINDS[message.kind]]
            upload = self._call(lambda c: c.upload(data, media_type), op="upload")
        return self._send(to, conv.build_message(message, context=context, upload=upload, mime=mime))

    def _send(self, to: Any, content: Any) -> base.SendResult:
        response = self._call(lambda c: c.send_message(to, content), op="send", group=to.Server == "g.us")
        self._remember(response.ID, self._own()[0], content)
        return base.SendResult(wa_id=response.ID, timestamp=conv.when(response.Timestamp))

    def _key(self, chat: Any, wa_id: str, sender: str) -> Any:
        phone, lid = self._own()
        return conv.message_key(chat, wa_id, sender, (phone.partition("@")[0], lid.partition("@")[0] or phone))

    def react(self, chat_jid: str, target_wa_id: str, target_sender_jid: str, emoji: str,
              *, wa_id: str) -> base.SendResult:
        chat = conv.to_jid(chat_jid)
        return self._send(chat, conv.reaction_message(self._key(chat, target_wa_id, target_sender_jid), emoji))

    def edit(self, chat_jid: str, target_wa_id: str, text: str, *, wa_id: str) -> base.SendResult:
        chat = conv.to_jid(chat_jid)
        return self._send(chat, conv.edit_message(self._key(chat, target_wa_id, ""), text))

    def revoke(self, chat_jid: str, target_wa_id: str, target_sender_jid: str, *, wa_id: str) -> base.SendResult:
        chat = conv.to_jid(chat_jid)
        return self._send(chat, conv.revoke_message(self._key(chat, target_wa_id, target_sender_jid)))

    def mark_read(self, chat_jid: str, sender_jid: str, wa_ids: list[str], timestamp: datetime) -> None:
        from neonize.utils.enum import ReceiptType

        chat, sender = conv.to_jid(chat_jid), conv.to_jid(sender_jid or chat_jid)  # DMs: the sender is the chat
        self._call(lambda c: c.mark_read(*wa_ids, chat=chat, sender=sender, receipt=ReceiptType.READ,
                                         timestamp=int(timestamp.timestamp())), op="receipt")

    def set_presence(self, available: bool) -> None:
        from neonize.utils.enum import Presence

        presence = Presence.AVAILABLE if available else Presence.UNAVAILABLE
        self._call(lambda c: c.send_presence(presence), op="presence")

    def send_chat_state(self, chat_jid: str, state: base.ChatState) -> None:
        """``recording`` is ``composing`` with media ``audio`` (whatsapp-behaviour §5)."""
        from neonize.utils.enum import ChatPresence as P
        from neonize.utils.enum import ChatPresenceMedia as M

        paused, audio = state == base.ChatState.PAUSED, state == base.ChatState.RECORDING
        presence = P.CHAT_PRESENCE_PAUSED if paused else P.CHAT_PRESENCE_COMPOSING
        media = M.CHAT_PRESENCE_MEDIA_AUDIO if audio else M.CHAT_PRESENCE_MEDIA_TEXT
        chat = conv.to_jid(chat_jid)
        self._call(lambda c: c.send_chat_presence(chat, presence, media), op="presence")

    def subscribe_presence(self, jid: str) -> None:
        target = conv.to_jid(jid)
        self._call(lambda c: c.subscribe_presence(target), op="presence")

    def download_media(self, media: base.MediaRef) -> bytes:
        """Download by the locator :func:`neonize_events.media_ref` wrote (direct path and keys)."""
        from neonize.utils.enum import MediaType

        loc = media.locator
        type_name = _DOWNLOAD_TYPES.get(loc.get("media_type", ""))
        if not loc.get("direct_path") or not loc.get("media_key") or type_name is None:
            raise WhatsAppError(ErrorCode.NO_MEDIA, details={"locator": sorted(loc)})
        kind = MediaType[type_name]
        key = {name: base64.b64decode(loc.get(name) or "") for name in ("file_enc_sha256", "file_sha256", "media_key")}
        length = int(loc.get("file_length") or media.size or 0)
        return self._call(lambda c: c.download_media_with_path(
            loc["direct_path"], key["file_enc_sha256"], key["file_sha256"], key["media_key"], length, kind,
            kind.to_mms()), op="download")

    # --- groups ---------------------------------------------------------------------------------------

    def _group(self, info: Any) -> base.GroupInfo:
        for link in conv.identity_links(info.Participants):
            self._emit(link)
        return conv.group_info(info)

    def create_group(self, name: str, participants: list[str]) -> base.GroupInfo:
        jids = [conv.to_jid(j) for j in participants]
        return self._group(self._call(lambda c: c.create_group(name, jids), op="group"))

    def group_info(self, group_jid: str) -> base.GroupInfo:
        group = conv.to_jid(group_jid)
        return self._group(self._call(lambda c: c.get_group_info(group), op="group"))

    def joined_groups(self) -> list[base.GroupInfo]:
        return [self._group(info) for info in self._call(lambda c: c.get_joined_groups(), op="group")]

    def group_invite_link(self, group_jid: str, reset: bool = False) -> str:
        group = conv.to_jid(group_jid)
        return self._call(lambda c: c.get_group_invite_link(group, revoke=reset), op="group")

    def join_group(self, invite_code: str) -> str:
        code = invite_code.strip()  # whatsmeow takes the bare code or the chat.whatsapp.com link
        return conv.jid_str(self._call(lambda c: c.join_group_with_link(code), op="join"))

    def leave_group(self, group_jid: str) -> None:
        group = conv.to_jid(group_jid)
        self._call(lambda c: c.leave_group(group), op="group")

    def update_participants(self, group_jid: str, jids: list[str],
                            action: base.ParticipantAction) -> list[base.GroupParticipant]:
        from neonize.utils.enum import ParticipantChange

        # Arguments arrive as JSON through the command queue: ``action`` may be the plain string.
        change = ParticipantChange[base.ParticipantAction(action).name]
        group, members = conv.to_jid(group_jid), [conv.to_jid(j) for j in jids]
        result = self._call(lambda c: c.update_group_participants(group, members, change), op="group")
        return [conv.group_participant(p) for p in result]

    def set_group_name(self, group_jid: str, name: str) -> None:
        group = conv.to_jid(group_jid)
        self._call(lambda c: c.set_group_name(group, name), op="group")

    def set_group_topic(self, group_jid: str, topic: str) -> None:
        group = conv.to_jid(group_jid)  # empty ids: whatsmeow looks up the previous topic id, makes a new one
        self._call(lambda c: c.set_group_topic(group, "", "", topic), op="group")

    # --- contacts -------------------------------------------------------------------------------------

    def is_on_whatsapp(self, phones: list[str]) -> list[base.OnWhatsApp]:
        digits = ["".join(ch for ch in phone if ch.isascii() and ch.isdigit()) for phone in phones]
        queries = [f"+{d}" for d in digits if d]  # whatsmeow wants the international "+" form
        found = self._call(lambda c: c.is_on_whatsapp(*queries), op="query") if queries else []
        by_digits = {"".join(ch for ch in r.Query if ch.isdigit()): r for r in found}
        results = []
        for phone, number in zip(phones, digits, strict=True):
            response = by_digits.get(number)
            result = conv.on_whatsapp(phone, response)
            if response is not None and response.IsIn and response.JID.Server == conv.LID_SERVER:
                self._emit(base.IdentityLinked(phone_jid=result.jid, lid=conv.jid_str(response.JID)))
            results.append(result)
        return results

    def user_info(self, jids: list[str]) -> list[base.UserInfo]:
        targets = [conv.to_jid(j) for j in jids]
        infos = {conv.jid_str(r.JID): r.UserInfo for r in self._call(lambda c: c.get_user_info(*targets), op="query")}
        results = []
        for jid in (conv.jid_str(t) for t in targets):
            info, is_lid = infos.get(jid), jid.endswith("@lid")
            twin = self._twin(jid, to_phone=is_lid)
            name = info.VerifiedName.Details.verifiedName if info is not None and info.HasField("VerifiedName") else ""
            results.append(base.UserInfo(jid=jid, status=info.Status if info else "", verified_name=name,
                                         picture_id=info.PictureID if info else "", lid=jid if is_lid else twin,
                                         phone_jid=twin if is_lid else jid))
        return results

    def _twin(self, jid: str, *, to_phone: bool) -> str:
        with contextlib.suppress(WhatsAppError):
            return self.phone_for_lid(jid) if to_phone else self.lid_for_phone(jid)
        return ""

    def profile_picture(self, jid: str) -> base.ProfilePicture | None:
        from neonize.proto.Neonize_pb2 import GetProfilePictureParams

        target = conv.to_jid(jid)
        try:
            picture = self._call(lambda c: c.get_profile_picture(target, GetProfilePictureParams(Preview=False)),
                                 op="query")
        except WhatsAppError as error:
            if any(text in str(error.details.get("whatsapp_error", "")) for text in _NO_PICTURE):
                return None  # whatsmeow ErrProfilePictureNotSet / ErrProfilePictureUnauthorized
            raise
        return base.ProfilePicture(jid=conv.jid_str(target), url=picture.URL, picture_id=picture.ID) \
            if picture.URL else None

    def lid_for_phone(self, phone_jid: str) -> str:
        target = conv.to_jid(phone_jid)
        return conv.jid_str(self._call(lambda c: c.get_lid_from_pn(target), op="query"))

    def phone_for_lid(self, lid: str) -> str:
        target = conv.to_jid(lid)
        return conv.jid_str(self._call(lambda c: c.get_pn_from_lid(target), op="query"))

    # --- data events --------------------------------------------------------------------------------------

    def _remember(self, wa_id: str, sender: str, content: Any) -> None:
        """Keep recent messages, so a quoted reply can carry the quoted content."""
        with self._lock:
            if wa_id:
                self._recent[wa_id] = (sender, content)
            while len(self._recent) > 500:
                self._recent.popitem(last=False)

    def _data_event(self, name: str, ev: Any) -> None:
        if name == "Message":
            self._remember(ev.Info.ID, conv.jid_str(ev.Info.MessageSource.Sender), conv.unwrap(ev.Message)[0])
            events = conv.message_events(ev)
        elif name == "HistorySync":
            events = conv.history_events(ev, conv.jid_str(conv.to_jid(self._me[0])) if self._me[0] else "")
        else:
            convert = {"Receipt": conv.receipt_event, "ChatPresence": conv.chat_presence_event,
                       "Presence": conv.presence_event}[name]
            events = [event for event in [convert(ev)] if event is not None]
        for event in events:
            self._emit(event)
