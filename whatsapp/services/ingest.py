"""Storing what WhatsApp reports: messages (live and history), receipts, reactions, edits,
revokes, presence and identities — each idempotent, each appended to the device's event log.

The runner calls these with the engine port's value types; nothing here knows which engine sent
them. A message is stored once per device and WhatsApp id, so a redelivered event or a history
batch overlapping live traffic never duplicates it or counts it twice as unread.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, F, Q, TextField, Value, When

from whatsapp import jids
from whatsapp.engine.base import (
    ChatPresenceChanged,
    InboundMessage,
    MessageEdited,
    MessageRevoked,
    PresenceChanged,
    ReactionReceived,
    ReceiptReceived,
)
from whatsapp.models import (
    Chat,
    Contact,
    DeliveryStatus,
    Device,
    DeviceEvent,
    Direction,
    EventType,
    Message,
    Reaction,
)
from whatsapp.models.bulk import update_each
from whatsapp.models.messages import status_advances
from whatsapp.services.payloads import message_payload

logger = logging.getLogger("whatsapp.ingest")

PREVIEW_CHARS = 120

RECEIPT_STATUS = {"delivered": DeliveryStatus.DELIVERED, "read": DeliveryStatus.READ, "played": DeliveryStatus.READ}


def chat_for(device: Device, jid: str, *, name: str = "") -> Chat:
    """The device's chat with ``jid`` (created when first seen), linked to its contact."""
    jid = jids.normalize(jid)
    chat = Chat.objects.filter(device=device, jid=jid).first()
    if chat is not None:
        return chat
    contact = None
    if jids.is_phone(jid) or jids.is_lid(jid):
        contact = Contact.for_jid(device.pk, jid)
    try:
        with transaction.atomic():
            return Chat.objects.create(device=device, jid=jid, kind=Chat.kind_of(jid), name=name, contact=contact)
    except IntegrityError:  # created concurrently
        return Chat.objects.get(device=device, jid=jid)


def link_identity(device: Device, phone_jid: str, lid: str) -> Contact:
    return Contact.link_twins(device.pk, phone_jid, lid)


def ingest_message(device: Device, message: InboundMessage, *, from_history: bool = False) -> Message | None:
    """Store an inbound (or own-phone) message once. Returns it, or None when already stored."""
    if message.sender_phone_jid and message.sender_lid:
        link_identity(device, message.sender_phone_jid, message.sender_lid)
    sender = message.sender_jid
    if sender and not message.is_group and (jids.is_phone(sender) or jids.is_lid(sender)) and message.push_name:
        contact = Contact.for_jid(device.pk, sender)
        if contact.push_name != message.push_name:
            contact.push_name = message.push_name
            contact.save(update_fields=["push_name", "updated_at"])
    with transaction.atomic():
        chat = chat_for(device, message.chat_jid)
        if Message.objects.filter(device=device, wa_id=message.wa_id).exists():
            return None
        media = message.media
        stored = Message.objects.create(
            device=device, chat=chat, wa_id=message.wa_id,
            direction=Direction.OUTBOUND if message.from_me else Direction.INBOUND,
            type=str(message.kind), from_me=message.from_me,
            sender_jid=message.sender_jid, sender_phone_jid=message.sender_phone_jid, sender_lid=message.sender_lid,
            sender_name=message.push_name, body=message.text, quoted_wa_id=message.quoted_wa_id,
            content=dict(message.content),
            media_mime_type=media.mime_type if media else "", media_file_name=media.file_name if media else "",
            media_size=media.size if media else None, media_sha256=media.sha256 if media else "",
            media_duration_s=media.duration_s if media else None, media_ptt=media.ptt if media else False,
            media_info=dict(media.locator) if media else {},
            status=DeliveryStatus.SENT if message.from_me else "",
            timestamp=message.timestamp, from_history=from_history,
        )
        touch_chat(chat.pk, stored, unread=not message.from_me and not from_history)
        # Decided by the database: this instance may be stale (the runner keeps one for hours).
        Device.objects.filter(pk=device.pk).filter(
            Q(last_message_at__isnull=True) | Q(last_message_at__lt=stored.timestamp)
        ).update(last_message_at=stored.timestamp)
        DeviceEvent.append(device.pk, EventType.MESSAGE, message_payload(stored))
    return stored


def preview_of(message: Message) -> str:
    """What a chat list shows of its newest message: the text, else the kind (``[image]``)."""
    return (message.body or f"[{message.type}]")[:PREVIEW_CHARS]


def touch_chat(chat_id: int, message: Message, *, unread: bool = False) -> None:
    """Move the chat's preview forward and count an unread message, in one UPDATE. Whether the
    message is newer is decided by the database, so a stale chat instance (the runner keeps
    objects for hours) can never move the preview back to an older message."""
    newer = Q(last_message_at__isnull=True) | Q(last_message_at__lte=message.timestamp)
    preview = preview_of(message)
    changes: dict[str, Any] = {
        "last_message_at": Case(When(newer, then=Value(message.timestamp)), default=F("last_message_at"),
                                output_field=DateTimeField()),
        "last_message_preview": Case(When(newer, then=Value(preview)), default=F("last_message_preview"),
                                     output_field=TextField()),
    }
    if unread:
        changes["unread_count"] = F("unread_count") + 1
    Chat.objects.filter(pk=chat_id).update(**changes)


def ingest_history(device: Device, messages: tuple[InboundMessage, ...] | list[InboundMessage]) -> list[Message]:
    """Store a history-sync batch; returns the messages that were new."""
    stored = (ingest_message(device, message, from_history=True) for message in messages)
    return [message for message in stored if message is not None]


def record_outbound(device: Device, message: Message, *, status: str, timestamp: datetime | None = None,
                    error_code: str = "") -> None:
    """The runner's verdict on a send: ``sent`` (with WhatsApp's time) or ``failed`` with a code."""
    with transaction.atomic():
        updates: dict[str, Any] = {"status": status, "error_code": error_code}
        if status == DeliveryStatus.SENT:
            updates["sent_at"] = timestamp
            if timestamp:
                updates["timestamp"] = timestamp
        Message.objects.filter(pk=message.pk).update(**updates)
        message.refresh_from_db()
        if status == DeliveryStatus.SENT:
            touch_chat(message.chat_id, message)
        DeviceEvent.append(device.pk, EventType.MESSAGE, message_payload(message))


def ingest_receipt(device: Device, receipt: ReceiptReceived) -> int:
    """Advance outbound messages' status (never backwards). Returns how many changed."""
    return ingest_receipts(device, [receipt])


def ingest_receipts(device: Device, receipts: list[ReceiptReceived]) -> int:
    """A run of receipts, in order, as one read, at most three UPDATEs and one event append —
    whatever the run's length. Every message sent brings a delivered and a read receipt, so storing
    them one query (and one event-log round trip) per message made receipts cost more than sending.

    Each receipt is judged against the status the previous ones left (a delivered and a read receipt
    for one message in one run both count), and emits its own ``receipt`` event naming the messages
    it moved. Returns how many (message, receipt) steps changed something."""
    wanted = {wa_id for receipt in receipts for wa_id in receipt.wa_ids}
    if not wanted:
        return 0
    with transaction.atomic():
        rows = Message.objects.select_for_update().filter(device=device, wa_id__in=wanted,
                                                          direction=Direction.OUTBOUND)
        current = {wa_id: (pk, status) for pk, wa_id, status in rows.values_list("pk", "wa_id", "status")}
        stamps: dict[int, dict[str, Any]] = {}  # message pk -> the fields this run sets
        events: list[tuple[str, dict[str, Any]]] = []
        for receipt in receipts:
            status = RECEIPT_STATUS[str(receipt.status)]
            field = "read_at" if status == DeliveryStatus.READ else "delivered_at"
            changed = []
            for wa_id in dict.fromkeys(receipt.wa_ids):
                pk, before = current.get(wa_id, (None, ""))
                if pk is None or not status_advances(before, status):
                    continue
                current[wa_id] = (pk, status)
                stamps.setdefault(pk, {}).update({"status": status, field: receipt.timestamp})
                changed.append(wa_id)
            if changed:
                events.append((EventType.RECEIPT, {
                    "message_ids": changed, "chat_jid": receipt.chat_jid, "sender_jid": receipt.sender_jid,
                    "status": str(receipt.status), "timestamp": receipt.timestamp,
                }))
        by_fields: dict[tuple[str, ...], list[Message]] = {}
        for pk, values in stamps.items():
            by_fields.setdefault(tuple(sorted(values)), []).append(Message(pk=pk, **values))
        for fields, messages in by_fields.items():
            update_each(messages, fields)
        DeviceEvent.append_many(device.pk, events)
    return sum(len(payload["message_ids"]) for _, payload in events)


def ingest_reaction(device: Device, reaction: ReactionReceived) -> None:
    with transaction.atomic():
        target = Message.objects.filter(device=device, wa_id=reaction.target_wa_id).first()
        if target is not None:
            if reaction.emoji:
                Reaction.objects.update_or_create(message=target, sender_jid=reaction.sender_jid,
                                                  defaults={"emoji": reaction.emoji, "timestamp": reaction.timestamp})
            else:
                Reaction.objects.filter(message=target, sender_jid=reaction.sender_jid).delete()
        DeviceEvent.append(device.pk, EventType.REACTION, {
            "message_id": reaction.target_wa_id, "chat_jid": reaction.chat_jid, "sender_jid": reaction.sender_jid,
            "emoji": reaction.emoji, "removed": not reaction.emoji, "is_from_me": reaction.from_me,
            "timestamp": reaction.timestamp,
        })


def _addresses(device: Device, jid: str) -> set[str]:
    """``jid`` and its LID/phone twin, as far as the store knows."""
    found = {jid} if jid else set()
    if jid and (jids.is_phone(jid) or jids.is_lid(jid)):
        contact = Contact.objects.filter(device=device).filter(Q(phone_jid=jid) | Q(lid=jid)).first()
        if contact is not None:
            found.update(contact.addresses)
    return found


def _may_change(device: Device, target: Message, chat_jid: str, sender_jid: str, from_me: bool, *,
                group_admins_too: bool) -> bool:
    """Whether an edit or revoke may touch ``target``: same chat, and by its author — WhatsApp
    clients match the target by chat, sender and id, so a peer cannot rewrite someone else's
    message by quoting its id. Group revokes may come from an admin, which the store cannot check."""
    if target.chat.jid not in _addresses(device, chat_jid):
        return False
    if target.chat.kind == "group" and group_admins_too:
        return True
    if from_me or target.from_me:
        return from_me and target.from_me
    authors = {target.sender_jid, target.sender_phone_jid, target.sender_lid} - {""}
    return bool(authors & _addresses(device, sender_jid))


def ingest_edit(device: Device, edit: MessageEdited) -> None:
    with transaction.atomic():
        target = Message.objects.select_related("chat").filter(device=device, wa_id=edit.target_wa_id).first()
        if target is not None:
            if not _may_change(device, target, edit.chat_jid, edit.sender_jid, edit.from_me, group_admins_too=False):
                logger.warning("device %s: ignored an edit of %s by %s (not its author)", device.pk,
                               edit.target_wa_id, edit.sender_jid)
                return
            Message.objects.filter(pk=target.pk).update(body=edit.text, edited_at=edit.timestamp)
        DeviceEvent.append(device.pk, EventType.MESSAGE_EDITED, {
            "message_id": edit.target_wa_id, "chat_jid": edit.chat_jid, "sender_jid": edit.sender_jid,
            "text": edit.text, "is_from_me": edit.from_me, "timestamp": edit.timestamp,
        })


def ingest_revoke(device: Device, revoke: MessageRevoked) -> None:
    with transaction.atomic():
        target = Message.objects.select_related("chat").filter(device=device, wa_id=revoke.target_wa_id).first()
        if target is not None:
            if not _may_change(device, target, revoke.chat_jid, revoke.sender_jid, revoke.from_me,
                               group_admins_too=True):
                logger.warning("device %s: ignored a revoke of %s by %s (not its author)", device.pk,
                               revoke.target_wa_id, revoke.sender_jid)
                return
            Message.objects.filter(pk=target.pk).update(revoked_at=revoke.timestamp)
        DeviceEvent.append(device.pk, EventType.MESSAGE_REVOKED, {
            "message_id": revoke.target_wa_id, "chat_jid": revoke.chat_jid, "sender_jid": revoke.sender_jid,
            "is_from_me": revoke.from_me, "timestamp": revoke.timestamp,
        })


def ingest_presence(device: Device, presence: PresenceChanged) -> None:
    DeviceEvent.append(device.pk, EventType.PRESENCE, {
        "jid": presence.jid, "status": "online" if presence.available else "offline",
        "last_seen": presence.last_seen,
    })


def ingest_chat_presence(device: Device, presence: ChatPresenceChanged) -> None:
    DeviceEvent.append(device.pk, EventType.CHAT_PRESENCE, {
        "chat_jid": presence.chat_jid, "sender_jid": presence.sender_jid, "state": str(presence.state),
    })
