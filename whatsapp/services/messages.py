"""Sending: every accepted message is written to the durable outbox before anything else happens.

One transaction stores ``Message(status=queued)`` and its ``send`` command; the runner holding the
device executes it with the message's own WhatsApp id (chosen here), so a crash at any point leaves
the message queued, sent or failed — never lost, and never sent twice (a retried send carries the
same id, which WhatsApp deduplicates).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from media.models import MediaDirection, MediaFile, storage_path
from whatsapp import jids
from whatsapp.engine.base import Kind
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import CommandKind, DeliveryStatus, Device, DeviceCommand, Direction, Message
from whatsapp.phones import normalize_phone
from whatsapp.services.commands import await_command
from whatsapp.services.ingest import chat_for
from whatsapp.services.policies import ensure_allowed

MAX_TEXT_CHARS = 4096
MAX_POLL_OPTIONS = 12  # WhatsApp's limit
MEDIA_KINDS = frozenset({Kind.IMAGE, Kind.VIDEO, Kind.AUDIO, Kind.DOCUMENT, Kind.STICKER})
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4",
              "audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/mp4": "m4a", "application/pdf": "pdf"}


def new_message_id() -> str:
    """A WhatsApp-style message id, as whatsmeow generates them (``3EB0`` + 18 hex digits)."""
    return "3EB0" + secrets.token_hex(9).upper()


def resolve_recipient(to: str, field: str = "to") -> str:
    """A JID from a JID or a phone number; a number is never fuzzy-matched to a contact."""
    text = (to or "").strip()
    if "@" in text:
        try:
            return jids.normalize(text)
        except ValueError:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"{text!r} is not a valid WhatsApp JID.",
                                details={"field": field}) from None
    return jids.phone_jid(normalize_phone(text, field))


@dataclass(frozen=True)
class Outgoing:
    """What a surface asks to send, already decoded (media as bytes)."""

    to: str
    kind: Kind = Kind.TEXT
    text: str = ""
    media: bytes | None = None
    mime_type: str = ""
    file_name: str = ""
    ptt: bool = False
    contact_name: str = ""
    vcard: str = ""
    latitude: float | None = None
    longitude: float | None = None
    address: str = ""
    poll_options: tuple[str, ...] = ()
    quoted_wa_id: str = ""


def _validate(outgoing: Outgoing) -> None:
    if outgoing.kind == Kind.TEXT and not outgoing.text.strip():
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "text is required.", details={"field": "text"})
    if len(outgoing.text) > MAX_TEXT_CHARS:
        raise WhatsAppError(ErrorCode.MESSAGE_TOO_LONG, details={"field": "text", "max": MAX_TEXT_CHARS,
                                                                 "length": len(outgoing.text)})
    if outgoing.kind in MEDIA_KINDS:
        if not outgoing.media:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "media content is required.", details={"field": "media"})
        if len(outgoing.media) > settings.MEDIA_MAX_BYTES:
            raise WhatsAppError(ErrorCode.MEDIA_TOO_LARGE, details={"max_bytes": settings.MEDIA_MAX_BYTES})
    if outgoing.kind == Kind.LOCATION and (outgoing.latitude is None or outgoing.longitude is None):
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "latitude and longitude are required.",
                            details={"field": "latitude"})
    if outgoing.kind == Kind.CONTACT and not (outgoing.contact_name and outgoing.vcard):
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "contact_name and vcard are required.",
                            details={"field": "vcard"})
    if outgoing.kind == Kind.POLL:
        _validate_poll(outgoing)


def _validate_poll(outgoing: Outgoing) -> None:
    """WhatsApp shows a poll without a question as an empty bubble and refuses duplicate options."""
    if not outgoing.text.strip():
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "a poll needs its question as text.",
                            details={"field": "text"})
    options = [option.strip() for option in outgoing.poll_options]
    if len(options) < 2:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "a poll needs at least two options.",
                            details={"field": "poll_options"})
    if len(options) > MAX_POLL_OPTIONS:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"a poll has at most {MAX_POLL_OPTIONS} options.",
                            details={"field": "poll_options"})
    if not all(options) or len(set(options)) != len(options):
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "poll options must be non-empty and distinct.",
                            details={"field": "poll_options"})


def _store_media(device: Device, wa_id: str, outgoing: Outgoing) -> MediaFile:
    extension = EXTENSIONS.get(outgoing.mime_type) or Path(outgoing.file_name).suffix.lstrip(".") or "bin"
    relative = storage_path(device.app_id, device.pk, wa_id, extension)
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(outgoing.media or b"")
    return MediaFile.objects.create(app_id=device.app_id, device=device, path=relative,
                                    direction=MediaDirection.OUTBOUND, mime_type=outgoing.mime_type,
                                    size=len(outgoing.media or b""),
                                    sha256=hashlib.sha256(outgoing.media or b"").hexdigest())


def send_message(device: Device, outgoing: Outgoing, *, wait_s: float | None = None,
                 on_accept: Callable[[Message], None] | None = None) -> Message:
    """Accept a message into the outbox, then wait up to ``wait_s`` (default ``SEND_WAIT_SECONDS``)
    for WhatsApp's ack. Returns the message (``sent``, or still ``queued`` when the wait ran out);
    raises the enum's error when it failed (the message stays stored as ``failed``).

    ``on_accept`` is called with the new message inside the transaction that stores it (before its
    media and command are written): whatever it records commits with the message or not at all —
    the REST API writes the request's idempotency key there. An exception from it undoes the send.
    """
    device.refresh_from_db()
    device.ensure_connected()
    to_jid = resolve_recipient(outgoing.to)
    ensure_allowed(device, to_jid)
    _validate(outgoing)
    wa_id = new_message_id()
    with transaction.atomic():
        chat = chat_for(device, to_jid)
        message = Message.objects.create(
            device=device, chat=chat, wa_id=wa_id, direction=Direction.OUTBOUND, type=str(outgoing.kind),
            from_me=True, sender_jid=device.phone_jid, sender_phone_jid=device.phone_jid, sender_lid=device.lid,
            body=outgoing.text, quoted_wa_id=outgoing.quoted_wa_id,
            status=DeliveryStatus.QUEUED, media_mime_type=outgoing.mime_type, media_file_name=outgoing.file_name,
            media_ptt=outgoing.ptt, content=_content(outgoing),
        )
        if on_accept is not None:
            on_accept(message)
        payload = {"to": to_jid}
        if outgoing.kind in MEDIA_KINDS:
            media_file = _store_media(device, wa_id, outgoing)
            media_file.message = message
            media_file.save(update_fields=["message"])
            message.media_size, message.media_sha256 = media_file.size, media_file.sha256
            message.save(update_fields=["media_size", "media_sha256"])
            payload["media_path"] = media_file.path
        command = DeviceCommand.enqueue(device.pk, CommandKind.SEND, payload, message_id=message.pk)
    wait = settings.SEND_WAIT_SECONDS if wait_s is None else wait_s
    if wait <= 0:
        return message  # as accepted: queued
    try:
        await_command(command, wait)
    except WhatsAppError as error:
        if error.code is not ErrorCode.CONNECTION_TIMEOUT or command.is_finished:
            message.refresh_from_db()
            error.details.setdefault("message_id", message.wa_id)
            raise
    message.refresh_from_db()
    return message


def _content(outgoing: Outgoing) -> dict:
    """Kind-specific fields, stored with the same keys as inbound messages of that kind (the engine
    port's ``InboundMessage.content``), so events and webhooks read alike in both directions."""
    if outgoing.kind == Kind.LOCATION:
        return {"latitude": outgoing.latitude, "longitude": outgoing.longitude, "address": outgoing.address}
    if outgoing.kind == Kind.CONTACT:
        return {"name": outgoing.contact_name, "vcard": outgoing.vcard}
    if outgoing.kind == Kind.POLL:
        return {"name": outgoing.text, "options": list(outgoing.poll_options), "selectable_count": 1}
    return {}
