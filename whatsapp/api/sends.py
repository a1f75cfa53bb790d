"""``POST /devices/{device_id}/messages``: send a message of any kind, optionally exactly once per
``Idempotency-Key``.

The request body is turned into the service's :class:`~whatsapp.services.messages.Outgoing` (media
fetched or decoded and sniffed first), then ``send_message`` accepts it into the outbox and waits
for WhatsApp's ack: 200 ``sent`` within the wait, 202 ``queued`` after it (or at once with
``Prefer: respond-async``). The message is never lost either way.

Idempotency: the key's row is written by ``send_message``'s ``on_accept`` hook, in the transaction
that stores the message, so a key exists exactly when its message does. The first answer — success
or an error raised after acceptance — is remembered and replayed to every retry with the same body.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Annotated, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from ninja import Header, Status

from media.intake import check_media, decode_base64, fetch_url
from whatsapp.api.lookups import app_of, device_of
from whatsapp.api.message_schemas import SendMessage
from whatsapp.engine.base import Kind
from whatsapp.errors import ErrorCode as E
from whatsapp.errors import WhatsAppError
from whatsapp.models import DeliveryStatus, Device, Message
from whatsapp.models.idempotency import IdempotencyKey
from whatsapp.services.messages import Outgoing, send_message
from whatsapp.services.payloads import message_payload

MAX_KEY_CHARS = 255
MEDIA = frozenset({"image", "video", "audio", "document", "sticker"})
CAPTIONED = frozenset({"image", "video", "document"})
# Which optional body fields apply to which types; any other combination is refused, so a field
# that would silently do nothing (a caption on a sticker, a URL on a text) is a validation_error.
APPLIES_TO: dict[str, frozenset[str]] = {
    "text": frozenset({"text", "poll"}) | CAPTIONED,
    "url": MEDIA, "data_base64": MEDIA, "mime_type": MEDIA, "file_name": MEDIA,
    "caption": CAPTIONED, "ptt": frozenset({"audio"}),
    "contact_name": frozenset({"contact"}), "vcard": frozenset({"contact"}),
    "latitude": frozenset({"location"}), "longitude": frozenset({"location"}), "address": frozenset({"location"}),
    "options": frozenset({"poll"}),
}
# Refusals before acceptance (input, media intake, device state) and WhatsApp's refusals after it.
SEND_ERRORS = (
    E.NOT_FOUND, E.DEVICE_DESTROYED, E.MESSAGE_NOT_CONNECTED, E.IDEMPOTENCY_KEY_REUSED, E.MESSAGE_TOO_LONG,
    E.REQUEST_TOO_LARGE, E.MEDIA_TOO_LARGE, E.MEDIA_URL_FORBIDDEN, E.MEDIA_FETCH_FAILED, E.MEDIA_MAGIC_MISMATCH,
    E.MEDIA_DANGEROUS_EXTENSION, E.GROUP_POSTING_RESTRICTED, E.GROUP_PREKEY_TIMEOUT, E.PROVIDER_RATE_LIMITED,
    E.MESSAGE_RECIPIENT_NOT_FOUND, E.MESSAGE_SEND_FAILED, E.MEDIA_UPLOAD_FAILED, E.MEDIA_RATE_LIMITED,
    E.CLIENT_OUTDATED, E.FORBIDDEN, E.REQUEST_CANCELED, E.CONNECTION_LOST, E.CONNECTION_TIMEOUT, E.PROVIDER_ERROR,
    E.WHATSAPP_ERROR,
)

IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key", description=(
    "Up to 255 printable ASCII characters, kept 24 h: a retry with the same key and body gets the first "
    "answer again (`Idempotent-Replayed: true`); another body is `idempotency_key_reused` (409)."))]
PreferHeader = Annotated[str | None, Header(alias="Prefer", description=(
    "`respond-async`: answer 202 `queued` at once instead of waiting for WhatsApp's ack."))]


class _KeyTaken(Exception):
    """A concurrent request with the same key accepted its message first."""


def _invalid(field: str, message: str) -> WhatsAppError:
    return WhatsAppError(E.VALIDATION_ERROR, message, details={"field": field})


# --- from the body to an Outgoing -------------------------------------------------------------


def _check_fields(body: SendMessage) -> None:
    for field, types in APPLIES_TO.items():
        if getattr(body, field) is not None and body.type not in types:
            raise _invalid(field, f"{field} does not apply to a {body.type} message.")
    for field in ("contact_name", "vcard") if body.type == "contact" else ():
        if not (getattr(body, field) or "").strip():
            raise _invalid(field, f"{field} is required for a contact message.")
    for field in ("latitude", "longitude") if body.type == "location" else ():
        if getattr(body, field) is None:
            raise _invalid(field, f"{field} is required for a location message.")
    if body.type == "poll":
        if not (body.text or "").strip():
            raise _invalid("text", "text (the poll's question) is required for a poll.")
        options = [option.strip() for option in body.options or ()]
        if not options:
            raise _invalid("options", "options (2 to 12) are required for a poll.")
        if not all(options) or len(set(options)) != len(options):
            raise _invalid("options", "poll options must be non-empty and distinct.")
    if body.type in CAPTIONED and body.text is not None and body.caption is not None:
        raise _invalid("text", "Give the caption once: in caption (or text), not both.")


def _media(body: SendMessage) -> tuple[bytes, str, str]:
    """The bytes, the MIME type to send (checked against the content) and the file name."""
    if body.url is None and body.data_base64 is None:
        raise WhatsAppError(E.VALIDATION_ERROR, f"A {body.type} message needs exactly one of url or data_base64.",
                            details={"field": "data_base64", "fields": ["url", "data_base64"]})
    if body.url is not None and body.data_base64 is not None:
        raise WhatsAppError(E.VALIDATION_ERROR, "Give exactly one of url and data_base64, not both.",
                            details={"field": "url", "fields": ["url", "data_base64"]})
    fetched_name = None
    if body.data_base64 is not None:
        content, declared = decode_base64(body.data_base64)
    else:
        # The server's Content-Type is not trusted as a declaration: the bytes are sniffed instead.
        fetched = fetch_url(body.url or "")
        content, declared, fetched_name = fetched.content, None, fetched.file_name
    name = body.file_name or fetched_name
    mime = check_media(body.type, content, declared_mime=body.mime_type or declared, file_name=name)
    return content, mime, (name or "") if body.type == "document" or body.file_name else ""


def outgoing_of(body: SendMessage) -> Outgoing:
    """The service's view of the request (media fetched, decoded and checked)."""
    _check_fields(body)
    kind = Kind(body.type)
    common: dict[str, Any] = {"to": body.to, "kind": kind, "quoted_wa_id": body.quoted_message_id or ""}
    if body.type in MEDIA:
        content, mime, file_name = _media(body)
        return Outgoing(**common, text=body.caption or body.text or "", media=content, mime_type=mime,
                        file_name=file_name, ptt=bool(body.ptt))
    if kind == Kind.CONTACT:
        return Outgoing(**common, contact_name=(body.contact_name or "").strip(), vcard=body.vcard or "")
    if kind == Kind.LOCATION:
        return Outgoing(**common, latitude=body.latitude, longitude=body.longitude, address=body.address or "")
    if kind == Kind.POLL:
        return Outgoing(**common, text=(body.text or "").strip(),
                        poll_options=tuple(option.strip() for option in body.options or ()))
    return Outgoing(**common, text=body.text or "")


# --- answers ------------------------------------------------------------------------------------


def answer_of(message: Message, *, reload: bool = True) -> tuple[int, dict[str, Any]]:
    """200 once WhatsApp has the message, 202 while it is queued; the body is JSON-ready so it can
    be remembered for replays as the client saw it. ``reload=False`` trusts ``message`` as it is
    (just accepted, its chat attached), sparing a query on the hot path."""
    if reload:
        message = Message.objects.select_related("chat", "media_file").get(pk=message.pk)
    data = {**message_payload(message), "to": message.chat.jid, "status": message.status}
    body = json.loads(json.dumps({"data": data}, cls=DjangoJSONEncoder))
    return (202 if message.status == DeliveryStatus.QUEUED else 200), body


def _error_of(body: dict[str, Any]) -> WhatsAppError:
    """A remembered error answer, to be raised again (rendered with this request's id)."""
    error = body["error"]
    details = dict(error.get("details") or {})
    return WhatsAppError(E.lookup(error["name"]), error.get("message"), details=details,
                         retry_after_s=details.get("retry_after_s"), recovery=error.get("recovery"))


def _replay(row: IdempotencyKey, fingerprint: str, response: HttpResponse) -> Status:
    row.ensure_same_request(fingerprint)
    response["Idempotent-Replayed"] = "true"
    if row.response_status is not None:
        if row.response_status >= 400:
            raise _error_of(row.response_body)
        return Status(row.response_status, row.response_body)
    # Accepted, but no answer remembered yet: the first request is still waiting for the ack, or it
    # died before answering. The message's current state is the answer.
    message = row.message
    if message is None:
        raise WhatsAppError(E.NOT_FOUND, "The message this Idempotency-Key sent is no longer stored.",
                            details={"idempotency_key": row.key})
    if message.status == DeliveryStatus.FAILED:
        try:
            code = E.lookup(message.error_code)
        except KeyError:
            code = E.MESSAGE_SEND_FAILED
        raise WhatsAppError(code, details={"message_id": message.wa_id})
    return Status(*answer_of(message))


def clean_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not raw or len(raw) > MAX_KEY_CHARS or not all(" " <= ch <= "~" for ch in raw):
        raise _invalid("Idempotency-Key", f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters.")
    return raw


def fingerprint_of(device: Device, body: SendMessage) -> str:
    """SHA-256 of the device and the canonical JSON of the parsed body (so key order, whitespace
    and an omitted default such as ``"type": "text"`` do not make two requests differ)."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{device.pk}\n{canonical}".encode()).hexdigest()


def wants_async(prefer: str | None) -> bool:
    """RFC 7240: ``Prefer: respond-async`` (among other preferences, any case)."""
    return any(token.split("=", 1)[0].strip().lower() == "respond-async" for token in (prefer or "").split(","))


def _send_once(request: HttpRequest, device: Device, body: SendMessage, key: str, wait_s: float | None,
               response: HttpResponse) -> Status:
    app = app_of(request)
    fingerprint = fingerprint_of(device, body)
    earlier = IdempotencyKey.find(app, key)
    if earlier is not None:
        return _replay(earlier, fingerprint, response)
    outgoing = outgoing_of(body)
    claimed: list[IdempotencyKey] = []

    def claim(message: Message) -> None:
        row = IdempotencyKey.claim(app, key, fingerprint, device, message)
        if row is None:
            raise _KeyTaken  # undoes this send: the winner's message is the one
        claimed.append(row)

    try:
        message = send_message(device, outgoing, wait_s=wait_s, on_accept=claim)
    except _KeyTaken:
        winner = IdempotencyKey.find(app, key)
        if winner is None:  # the winner's row vanished (purged) between the two reads: very unlikely
            raise WhatsAppError(E.CONFLICT, "A concurrent request with this Idempotency-Key is in progress.",
                                details={"idempotency_key": key}) from None
        return _replay(winner, fingerprint, response)
    except WhatsAppError as error:
        if claimed:  # refused after acceptance: a retry must see the same refusal
            claimed[0].remember(error.status, {"error": error.to_rest(None)["error"]})
        raise
    status, answer = answer_of(message)
    claimed[0].remember(status, answer)
    return Status(status, answer)


def send(request: HttpRequest, device_id: uuid.UUID, body: SendMessage, response: HttpResponse,
         idempotency_key: str | None, prefer: str | None) -> Status:
    """The view's body (``whatsapp.api.messages`` routes it): see the module docstring."""
    device = device_of(request, device_id)
    key = clean_key(idempotency_key)
    wait_s = None
    if wants_async(prefer):
        wait_s = 0.0
        response["Preference-Applied"] = "respond-async"
    if key is not None:
        return _send_once(request, device, body, key, wait_s, response)
    message = send_message(device, outgoing_of(body), wait_s=wait_s)
    return Status(*answer_of(message, reload=wait_s != 0.0))
