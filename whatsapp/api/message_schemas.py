"""Shapes of the message endpoints: a message as the API shows it (wa-server's ``message`` payload,
the same the webhooks carry — ``whatsapp.services.payloads.message_payload``), the send body, and
the bodies and results of history and the message actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import AwareDatetime, ConfigDict, field_validator

from whatsapp.api.schemas import Body
from whatsapp.services.history import DEFAULT_LIMIT, MAX_LIMIT
from whatsapp.services.messages import MAX_POLL_OPTIONS

SendType = Literal["text", "image", "video", "audio", "document", "sticker", "contact", "location", "poll"]


def no_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL: refuse it as input instead of failing on the query (a 500)."""
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(text, str) and "\x00" in text for text in texts):
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


class _Text:
    """Every string field (and list of strings) of the model is checked by :func:`no_nul`."""

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return no_nul(value)


class MessageOut(Schema):
    """One stored message. Media fields appear only on media messages, and the kind-specific fields
    (location, contact card, poll…) only on messages of that kind: an absent field is "does not
    apply", ``null`` is "not known"."""

    # Kind-specific content keys of inbound messages may grow with WhatsApp; they are passed on.
    model_config = ConfigDict(extra="allow")

    message_id: str = Field(description="WhatsApp's message id (use it for reconciliation).")
    chat_jid: str
    is_group: bool
    direction: str = Field(description="`in` or `out`.")
    is_from_me: bool
    sender_jid: str | None
    sender_phone_jid: str | None
    sender_lid: str | None
    push_name: str | None
    type: str = Field(description="text, image, video, audio, document, sticker, contact, location, poll "
                                  "or unknown.")
    text: str | None = Field(description="The text of a text message.")
    caption: str | None = Field(description="The caption (or a poll's question) of other kinds.")
    quoted_message_id: str | None
    status: str | None = Field(description="Outbound delivery status: queued, sent, delivered, read or failed.")
    timestamp: datetime
    from_history: bool
    # media messages only
    mime_type: str | None = None
    file_name: str | None = None
    file_size: int | None = None
    sha256: str | None = None
    ptt: bool | None = Field(None, description="A voice note.")
    media_path: str | None = Field(None, description="Download with GET /media?path=… once stored.")
    # kind-specific (location, contact, poll) and flags
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    name: str | None = Field(None, description="Contact name, poll question or location name.")
    vcard: str | None = None
    contacts: list[dict[str, Any]] | None = Field(None, description="Every card of a multi-contact message.")
    options: list[str] | None = Field(None, description="Poll options.")
    selectable_count: int | None = None
    live: bool | None = None
    view_once: bool | None = None
    ephemeral: bool | None = None
    video_note: bool | None = None
    error_code: str | None = Field(None, description="Why a failed message failed (the enum's UPPER code).")


class SentMessage(MessageOut):
    to: str = Field(description="The recipient as resolved (a JID).")
    status: str = Field(description="`sent` (200), or `queued` (202) when the wait for WhatsApp's ack ran out.")


class SendMessage(_Text, Body):
    to: str = Field(min_length=1, max_length=200, description="A phone number (international) or a JID.")
    type: SendType = "text"
    text: str | None = Field(None, description="The text; a poll's question. For media the caption may be "
                                               "given here instead of `caption`.")
    url: str | None = Field(None, max_length=4096, description="Media: an http(s) URL to fetch (exactly one of "
                                                               "`url`/`data_base64`).")
    data_base64: str | None = Field(None, description="Media: the file in base64 (a `data:` URI is accepted).")
    mime_type: str | None = Field(None, max_length=200, description="Media: the declared type (checked "
                                                                    "against the content; sniffed when absent).")
    caption: str | None = Field(None, description="image, video, document.")
    file_name: str | None = Field(None, max_length=255, description="document (shown to the recipient).")
    ptt: bool | None = Field(None, description="audio: send as a voice note.")
    contact_name: str | None = Field(None, max_length=500, description="contact.")
    vcard: str | None = Field(None, max_length=20000, description="contact: the vCard text.")
    latitude: float | None = Field(None, ge=-90, le=90, description="location.")
    longitude: float | None = Field(None, ge=-180, le=180, description="location.")
    address: str | None = Field(None, max_length=1000, description="location: an optional label.")
    options: list[str] | None = Field(None, min_length=2, max_length=MAX_POLL_OPTIONS,
                                      description="poll: 2 to 12 distinct options; `text` is the question.")
    quoted_message_id: str | None = Field(None, min_length=1, max_length=200, description="Reply to this message.")


class HistoryFilters(_Text, Schema):
    chat_jid: str | None = Field(None, max_length=200, description="A chat (JID or phone number); its LID/phone "
                                                                   "twin is included.")
    direction: Literal["in", "out", "inbound", "outbound"] | None = None
    before: AwareDatetime | None = Field(None, description="Only messages strictly older (RFC 3339).")
    after: AwareDatetime | None = Field(None, description="Only messages strictly newer (RFC 3339).")
    q: str | None = Field(None, description="Case-insensitive text/caption contains (≤ 200 characters).")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=500, description="`next_cursor` of the previous page.")


class History(Schema):
    messages: list[MessageOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null at the end.")


class ReactionBody(_Text, Body):
    emoji: str = Field(max_length=64, description="One emoji; \"\" removes this account's reaction.")


class EditBody(_Text, Body):
    text: str = Field(description="The new text (own text messages, within WhatsApp's edit window).")


class MarkReadBody(_Text, Body):
    message_ids: list[str] | None = Field(None, description="Only these messages (default: the whole chat).")


class ActionOut(Schema):
    message: MessageOut = Field(description="The target message as now stored.")
    chat_jid: str
    action_message_id: str = Field(description="WhatsApp's id of the reaction, edit or revoke itself.")
    timestamp: datetime


class ReactionOut(ActionOut):
    emoji: str
    removed: bool


class MarkReadOut(Schema):
    chat_jid: str
    marked: int = Field(description="Messages newly marked read.")
    receipts: str = Field(description="sent, pending, failed, offline, disabled or not_needed.")
    ignored: list[str] = Field(description="Requested ids that are not messages of this chat.")
    error_code: str | None = Field(description="Why the receipts failed, when they did.")
