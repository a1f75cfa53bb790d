"""What a device does to messages already in the store: react, edit, revoke, mark read.

Each is request/reply to the runner holding the device (a ``react``/``edit``/``revoke`` command with
a fresh WhatsApp id of its own, so a command retried after a runner crash is still one action on
WhatsApp). Only once WhatsApp accepted the action is the local copy changed, through the same ingest
functions that store the inbound equivalents — so our own reaction, edit or revoke lands in the store
and the event log with exactly the shape of one made on the phone.

``mark_read`` is different: it is a local fact first (it works offline), and read receipts are only a
courtesy to the sender, queued without waiting long for them.

``device_call`` is the generic request/reply for every other engine operation (groups, contacts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from whatsapp.engine.base import MessageEdited, MessageRevoked, ReactionReceived
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import (
    Chat,
    ChatKind,
    CommandKind,
    CommandState,
    DeliveryStatus,
    Device,
    DeviceCommand,
    Direction,
    Message,
    MessageType,
)
from whatsapp.services import ingest
from whatsapp.services.commands import await_command, live
from whatsapp.services.messages import MAX_TEXT_CHARS, new_message_id, resolve_recipient
from whatsapp.services.policies import ensure_allowed

ACTION_TIMEOUT_S = 20.0  # react/edit/revoke: a WhatsApp round trip, plus a runner that may be starting
RECEIPT_WAIT_S = 2.0  # how long mark_read waits for its receipts before reporting them as pending
RECEIPT_DEADLINE_S = 60.0  # a receipt not taken by the runner by then is dropped, not sent late
MAX_MARK_IDS = 500
MAX_ID_CHARS = 200

# What counts as unread, and so what marking read changes. History-sync messages are excluded, as
# ingest never counts them (they were read, or not, on the phone long ago); own messages never are.
COUNTS_AS_UNREAD = Q(direction=Direction.INBOUND, from_me=False, read_at__isnull=True, from_history=False)


# --- shared plumbing -------------------------------------------------------------------------


def _validation(message: str, field: str, **details: Any) -> WhatsAppError:
    return WhatsAppError(ErrorCode.VALIDATION_ERROR, message, details={"field": field, **details})


def _clean_id(wa_id: str, field: str = "message_id") -> str:
    text = (wa_id or "").strip() if isinstance(wa_id, str) else ""
    if not text:
        raise _validation("A message id is required.", field)
    if len(text) > MAX_ID_CHARS:
        raise _validation(f"A message id has at most {MAX_ID_CHARS} characters.", field)
    return text


def _stored(device: Device, wa_id: str) -> Message:
    """The message as stored for this device; the sender is never guessed for an unknown one."""
    message = Message.objects.select_related("chat").filter(device=device, wa_id=wa_id).first()
    if message is None:
        raise WhatsAppError(ErrorCode.NOT_FOUND, f"No message {wa_id!r} in this device's store.",
                            details={"message_id": wa_id}, recovery="Use list_messages to find the message id.")
    ensure_allowed(device, message.chat.jid)  # reacting to, editing or revoking it acts on its chat
    return message


def _own_jid(device: Device) -> str:
    return device.phone_jid or device.lid


def _sender_of(device: Device, message: Message) -> str:
    """Who wrote ``message``, as WhatsApp needs it to address a reaction or revoke to it."""
    if message.sender_jid:
        return message.sender_jid
    if message.from_me:
        return _own_jid(device)
    return message.chat.jid if message.chat.kind == ChatKind.DIRECT else ""


def _when(result: dict[str, Any]) -> datetime:
    """WhatsApp's time of the action, as the runner reported it (now when it did not)."""
    stamp = result.get("timestamp")
    parsed = parse_datetime(stamp) if isinstance(stamp, str) else None
    return parsed or timezone.now()


def _run(device: Device, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    command = DeviceCommand.enqueue(device.pk, kind, payload, timeout_s=ACTION_TIMEOUT_S)
    return await_command(command, ACTION_TIMEOUT_S + 1)


def ensure_own_and_sent(message: Message, verb: str) -> None:
    """Edits and revokes: our own message, on WhatsApp, not deleted (surfaces check it before a rate token)."""
    if not message.from_me:
        raise _validation(f"Only messages sent by this account can be {verb}; {message.wa_id!r} was sent by "
                          f"{message.sender_jid or message.chat.jid}.", "message_id", message_id=message.wa_id)
    if message.status in (DeliveryStatus.QUEUED, DeliveryStatus.FAILED):
        raise _validation(f"Message {message.wa_id!r} is {message.status}, not on WhatsApp: it cannot be {verb}.",
                          "message_id", message_id=message.wa_id, status=message.status)
    ensure_not_revoked(message, verb)


def ensure_not_revoked(message: Message, verb: str) -> None:
    if message.revoked_at is not None:
        raise _validation(f"Message {message.wa_id!r} was deleted for everyone; it cannot be {verb}.",
                          "message_id", message_id=message.wa_id)


@dataclass(frozen=True)
class ActionResult:
    """What a reaction, edit or revoke did: the target message as now stored, and the id and time
    WhatsApp gave the action itself."""

    message: Message
    action_wa_id: str
    timestamp: datetime

    @property
    def chat_jid(self) -> str:
        return self.message.chat.jid


@dataclass(frozen=True)
class ReactionResult(ActionResult):
    emoji: str = ""

    @property
    def removed(self) -> bool:
        return not self.emoji


# --- emoji -----------------------------------------------------------------------------------

_ZWJ, _VS15, _VS16, _KEYCAP, _CANCEL_TAG = "\u200d", "\ufe0e", "\ufe0f", "\u20e3", "\U000e007f"
_EMOJI_RANGES = ((0x2100, 0x214F), (0x2190, 0x21FF), (0x2300, 0x23FF), (0x24C2, 0x24C2), (0x25A0, 0x25FF),
                 (0x2600, 0x27BF), (0x2900, 0x297F), (0x2B00, 0x2BFF), (0x1F000, 0x1F1E5), (0x1F200, 0x1F3FA),
                 (0x1F400, 0x1FAFF))
MAX_EMOJI_CHARS = 16  # the longest emoji (a kiss with two skin tones) takes 10 code points
_EMOJI_SINGLES = frozenset({0xA9, 0xAE, 0x203C, 0x2049, 0x3030, 0x303D, 0x3297, 0x3299})


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _is_emoji_base(ch: str) -> bool:
    code = ord(ch)
    return code in _EMOJI_SINGLES or any(low <= code <= high for low, high in _EMOJI_RANGES)


def _is_emoji_element(part: str) -> bool:
    """One emoji between zero-width joiners: a keycap, or a base with its presentation selector,
    skin tone and (for subdivision flags) tag sequence."""
    if part[0] in "0123456789#*":
        return part[1:] in (_KEYCAP, _VS16 + _KEYCAP)
    if not _is_emoji_base(part[0]):
        return False
    rest = part[1:]
    if rest[:1] in (_VS15, _VS16):
        rest = rest[1:]
    if rest and 0x1F3FB <= ord(rest[0]) <= 0x1F3FF:  # skin tone modifier
        rest = rest[1:]
    if rest[:1] == _VS16:
        rest = rest[1:]
    if rest and part[0] == "\U0001f3f4":  # 🏴 + tags: England, Scotland, Wales
        return rest[-1] == _CANCEL_TAG and len(rest) > 1 and all(0xE0020 <= ord(c) <= 0xE007E for c in rest[:-1])
    return not rest


def is_single_emoji(text: str) -> bool:
    """Whether ``text`` is exactly one emoji — one grapheme cluster however many code points it takes
    (family and profession ZWJ sequences, skin tones, keycaps, country and subdivision flags)."""
    if not text or len(text) > MAX_EMOJI_CHARS:
        return False
    if len(text) == 2 and all(_is_regional(ch) for ch in text):
        return True  # a country flag: two regional indicators
    parts = text.split(_ZWJ)
    return all(parts) and all(_is_emoji_element(part) for part in parts)


# --- react, edit, revoke ---------------------------------------------------------------------


def react(device: Device, message_wa_id: str, emoji: str) -> ReactionResult:
    """React to a stored message with one emoji, or remove our reaction with ``""``."""
    wa_id = _clean_id(message_wa_id)
    if not isinstance(emoji, str):  # never read a missing emoji as "remove"
        raise _validation("emoji is required: one emoji, or \"\" to remove the reaction.", "emoji")
    emoji = emoji.strip()
    if emoji and not is_single_emoji(emoji):
        raise _validation(f"{emoji!r} is not a single emoji; give exactly one emoji, or \"\" to remove the "
                          "reaction.", "emoji")
    live(device)
    message = _stored(device, wa_id)
    ensure_not_revoked(message, "reacted to")
    action_id = new_message_id()
    result = _run(device, CommandKind.REACT, {
        "chat_jid": message.chat.jid, "target_wa_id": message.wa_id,
        "target_sender_jid": _sender_of(device, message), "emoji": emoji, "wa_id": action_id,
    })
    timestamp = _when(result)
    ingest.ingest_reaction(device, ReactionReceived(chat_jid=message.chat.jid, sender_jid=_own_jid(device),
                                                    target_wa_id=message.wa_id, emoji=emoji, timestamp=timestamp,
                                                    from_me=True))
    message.refresh_from_db()
    return ReactionResult(message=message, action_wa_id=result.get("wa_id") or action_id, timestamp=timestamp,
                          emoji=emoji)


def edit_message(device: Device, message_wa_id: str, text: str) -> ActionResult:
    """Replace the text of one of our own text messages (WhatsApp accepts edits for about 15 minutes
    and reports a refusal, which is raised as such)."""
    wa_id = _clean_id(message_wa_id)
    text = text if isinstance(text, str) else ""
    if not text.strip():
        raise _validation("The new text is required.", "text")
    if len(text) > MAX_TEXT_CHARS:
        raise WhatsAppError(ErrorCode.MESSAGE_TOO_LONG, details={"field": "text", "max": MAX_TEXT_CHARS,
                                                                 "length": len(text)})
    live(device)
    message = _stored(device, wa_id)
    ensure_own_and_sent(message, "edited")
    if message.type != MessageType.TEXT:
        raise _validation(f"Only text messages can be edited; {message.wa_id!r} is a {message.type} message.",
                          "message_id", message_id=message.wa_id, type=message.type)
    action_id = new_message_id()
    result = _run(device, CommandKind.EDIT, {"chat_jid": message.chat.jid, "target_wa_id": message.wa_id,
                                             "text": text, "wa_id": action_id})
    timestamp = _when(result)
    ingest.ingest_edit(device, MessageEdited(chat_jid=message.chat.jid, sender_jid=_own_jid(device),
                                             target_wa_id=message.wa_id, text=text, timestamp=timestamp,
                                             from_me=True))
    message.refresh_from_db()
    return ActionResult(message=message, action_wa_id=result.get("wa_id") or action_id, timestamp=timestamp)


def revoke_message(device: Device, message_wa_id: str) -> ActionResult:
    """Delete one of our own messages for everyone (WhatsApp refuses old ones with error 479)."""
    wa_id = _clean_id(message_wa_id)
    live(device)
    message = _stored(device, wa_id)
    ensure_own_and_sent(message, "deleted")
    action_id = new_message_id()
    result = _run(device, CommandKind.REVOKE, {
        "chat_jid": message.chat.jid, "target_wa_id": message.wa_id,
        "target_sender_jid": _sender_of(device, message), "wa_id": action_id,
    })
    timestamp = _when(result)
    ingest.ingest_revoke(device, MessageRevoked(chat_jid=message.chat.jid, sender_jid=_own_jid(device),
                                                target_wa_id=message.wa_id, timestamp=timestamp, from_me=True))
    message.refresh_from_db()
    return ActionResult(message=message, action_wa_id=result.get("wa_id") or action_id, timestamp=timestamp)


# --- mark read -------------------------------------------------------------------------------


class ReceiptOutcome(StrEnum):
    """What became of the WhatsApp read receipts of a ``mark_read``."""

    SENT = "sent"  # WhatsApp took every receipt
    PENDING = "pending"  # queued; the runner had not sent them all within the short wait
    FAILED = "failed"  # at least one was refused (``error_code`` says why)
    OFFLINE = "offline"  # the device is not connected: marked locally only
    DISABLED = "disabled"  # SEND_READ_RECEIPTS is off
    NOT_NEEDED = "not_needed"  # nothing was newly marked


@dataclass(frozen=True)
class MarkReadResult:
    chat_jid: str
    marked: int  # newly marked messages (already-read and own messages are not counted)
    receipts: ReceiptOutcome
    ignored: tuple[str, ...] = ()  # requested ids that are not messages of this chat (or its twins)
    error_code: str = ""


def _clean_ids(wa_ids: list[str] | tuple[str, ...] | None) -> list[str] | None:
    if wa_ids is None:
        return None
    if isinstance(wa_ids, str) or not isinstance(wa_ids, list | tuple):
        raise _validation("message_ids must be a list of message ids.", "message_ids")
    if not wa_ids:
        raise _validation("message_ids is empty; omit it to mark the whole chat read.", "message_ids")
    if len(wa_ids) > MAX_MARK_IDS:
        raise _validation(f"At most {MAX_MARK_IDS} message ids at a time.", "message_ids")
    return list(dict.fromkeys(_clean_id(wa_id, "message_ids") for wa_id in wa_ids))


def mark_read(device: Device, chat_jid: str, wa_ids: list[str] | tuple[str, ...] | None = None) -> MarkReadResult:
    """Mark the chat's unread incoming messages read (or exactly ``wa_ids`` of them), including the
    chat's twins (the same person under a phone JID and a LID).

    Works offline. When the device is connected and ``SEND_READ_RECEIPTS`` is on, read receipts
    for the newly marked messages are queued, one per chat and sender, and waited for only briefly.
    """
    jid = resolve_recipient(chat_jid, "chat")
    ensure_allowed(device, jid)
    ids = _clean_ids(wa_ids)
    device.refresh_from_db()
    chat = Chat.objects.filter(device=device, jid=jid).first()
    if chat is None:
        raise WhatsAppError(ErrorCode.NOT_FOUND, f"No chat with {jid} in this device's store.",
                            details={"chat_jid": jid}, recovery="Use list_chats to find the chat.")
    chats = chat.with_twins()
    now = timezone.now()
    with transaction.atomic():
        # Locking the chats first makes the recount exact: an ingest that is storing a message of
        # these chats has locked the chat row too (its unread increment), so we count after it.
        chat_rows = list(chats.select_for_update().order_by("pk"))
        in_chats = Message.objects.filter(device=device, chat__in=chat_rows)
        ignored: tuple[str, ...] = ()
        targets = in_chats.filter(COUNTS_AS_UNREAD)
        if ids is not None:
            found = set(in_chats.filter(wa_id__in=ids).values_list("wa_id", flat=True))
            ignored = tuple(wa_id for wa_id in ids if wa_id not in found)
            targets = targets.filter(wa_id__in=ids)
        marked = list(targets.select_related("chat").order_by("timestamp", "pk"))
        Message.objects.filter(pk__in=[m.pk for m in marked]).update(read_at=now)
        _recount_unread(chat_rows)
    outcome, error_code = _send_receipts(device, marked, now)
    return MarkReadResult(chat_jid=chat.jid, marked=len(marked), receipts=outcome, ignored=ignored,
                          error_code=error_code)


def _recount_unread(chats: list[Chat]) -> None:
    counts = dict(Message.objects.filter(chat__in=chats).filter(COUNTS_AS_UNREAD).values("chat")
                  .annotate(n=Count("pk")).values_list("chat", "n"))
    for chat in chats:
        if chat.unread_count != counts.get(chat.pk, 0):
            Chat.objects.filter(pk=chat.pk).update(unread_count=counts.get(chat.pk, 0))


def _send_receipts(device: Device, marked: list[Message], read_at: datetime) -> tuple[ReceiptOutcome, str]:
    if not marked:
        return ReceiptOutcome.NOT_NEEDED, ""
    if not settings.SEND_READ_RECEIPTS:
        return ReceiptOutcome.DISABLED, ""
    try:
        device.ensure_connected()
    except WhatsAppError:
        return ReceiptOutcome.OFFLINE, ""
    # WhatsApp's MarkRead takes one sender per call: in a DM the chat, in a group each author.
    batches: dict[tuple[str, str], list[str]] = {}
    for message in marked:
        sender = message.chat.jid if message.chat.kind != ChatKind.GROUP else message.sender_jid
        if sender:
            batches.setdefault((message.chat.jid, sender), []).append(message.wa_id)
    if not batches:  # group messages whose author is unknown: WhatsApp needs one per receipt
        return ReceiptOutcome.NOT_NEEDED, ""
    with transaction.atomic():  # the runner sees all of them or none
        commands = [DeviceCommand.enqueue(device.pk, CommandKind.MARK_READ, {
            "chat_jid": chat_jid, "sender_jid": sender, "wa_ids": ids, "timestamp": read_at.isoformat(),
        }, timeout_s=RECEIPT_DEADLINE_S) for (chat_jid, sender), ids in batches.items()]
    deadline = time.monotonic() + RECEIPT_WAIT_S
    pending = False
    for command in commands:
        try:
            await_command(command, max(0.0, deadline - time.monotonic()))
        except WhatsAppError as error:
            if command.state == CommandState.FAILED:
                return ReceiptOutcome.FAILED, error.code.code
            pending = True
    return (ReceiptOutcome.PENDING if pending else ReceiptOutcome.SENT), ""
