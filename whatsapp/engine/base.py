"""The engine port: what a WhatsApp client can do, and the domain events it reports.

Two adapters implement it: ``neonize`` (the real WhatsApp, through neonize/whatsmeow) and
``simulator`` (a faithful fake network for tests and demos). Everything above the port — the device
runner, the services, every surface — speaks only these types, so no neonize type ever leaves its
adapter and the simulator can stand in for WhatsApp anywhere.

Rules every adapter follows:

* Calls are synchronous and thread-safe with respect to one another; one engine serves one device.
* Failures raise :class:`whatsapp.errors.WhatsAppError` with the member that classifies them (by
  exception type and reason code, never by guessing from message text).
* Events go to the ``sink`` given at construction. The sink only enqueues; adapters may call it from
  any thread and must not wait for the runner to process an event.

This module is a leaf: stdlib, the error enum and JID helpers only (no Django).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from whatsapp.errors import ErrorCode

# --- values ----------------------------------------------------------------------------------


class Kind(StrEnum):
    """Message kinds, as stored and as the REST API names them."""

    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"
    CONTACT = "contact"
    LOCATION = "location"
    POLL = "poll"
    UNKNOWN = "unknown"


class ReceiptStatus(StrEnum):
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"


class ChatState(StrEnum):
    COMPOSING = "composing"
    RECORDING = "recording"
    PAUSED = "paused"


class ParticipantAction(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    PROMOTE = "promote"
    DEMOTE = "demote"


@dataclass(frozen=True)
class MediaRef:
    """What is known of a media attachment, and what the engine needs to download it again."""

    mime_type: str
    size: int | None = None
    sha256: str = ""  # hex digest of the plain bytes
    file_name: str = ""
    duration_s: int | None = None
    ptt: bool = False  # voice note
    # Engine-specific download parameters (direct path, media key…), JSON-serialisable, opaque above.
    locator: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundMessage:
    """A message as WhatsApp delivered it (live or from history sync)."""

    wa_id: str
    chat_jid: str
    sender_jid: str
    timestamp: datetime
    kind: Kind = Kind.TEXT
    text: str = ""  # body, or the caption of a media message
    from_me: bool = False  # sent by this account (possibly from the phone)
    sender_phone_jid: str = ""  # both addresses of the sender when known
    sender_lid: str = ""
    push_name: str = ""
    media: MediaRef | None = None
    quoted_wa_id: str = ""
    # Kind-specific fields: location {latitude, longitude, address, name}, contact {name, vcard},
    # poll {name, options, selectable_count}; plus flags such as {"view_once": true}.
    content: dict[str, Any] = field(default_factory=dict)

    @property
    def is_group(self) -> bool:
        return self.chat_jid.endswith("@g.us")


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to send. ``wa_id`` is chosen by the gateway before sending, so a retried send
    after a crash carries the same id and WhatsApp (or the simulator) sees one message."""

    wa_id: str
    to_jid: str
    kind: Kind = Kind.TEXT
    text: str = ""  # text, or caption for image/video/document
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
    poll_selectable_count: int = 1
    quoted_wa_id: str = ""
    quoted_sender_jid: str = ""


@dataclass(frozen=True)
class SendResult:
    wa_id: str
    timestamp: datetime


@dataclass(frozen=True)
class GroupParticipant:
    jid: str
    phone_jid: str = ""
    lid: str = ""
    is_admin: bool = False
    is_super_admin: bool = False
    error: int = 0  # WhatsApp's per-participant error code on updates (0 = ok)


@dataclass(frozen=True)
class GroupInfo:
    jid: str
    name: str
    topic: str = ""
    owner_jid: str = ""
    created_at: datetime | None = None
    is_announce: bool = False  # only admins may post
    is_locked: bool = False  # only admins may edit the group info
    is_ephemeral: bool = False
    is_join_approval_required: bool = False
    participants: tuple[GroupParticipant, ...] = ()


@dataclass(frozen=True)
class OnWhatsApp:
    query: str
    jid: str
    is_on_whatsapp: bool
    verified_name: str = ""


@dataclass(frozen=True)
class UserInfo:
    jid: str
    status: str = ""  # "about" text
    verified_name: str = ""
    picture_id: str = ""
    lid: str = ""
    phone_jid: str = ""


@dataclass(frozen=True)
class ProfilePicture:
    jid: str
    url: str
    picture_id: str = ""


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QRCodeIssued:
    """A QR code to show. The first of a window lives ~60 s, each rotation ~20 s."""

    code: str
    valid_for_s: float
    window_ends_at: datetime


@dataclass(frozen=True)
class QRWindowClosed:
    """The QR codes ran out without a scan; linking needs a new attempt."""


@dataclass(frozen=True)
class Paired:
    """A QR scan or pairing code linked this device to an account. ``Connected`` follows."""

    phone_jid: str
    lid: str = ""
    push_name: str = ""


@dataclass(frozen=True)
class Connected:
    phone_jid: str
    lid: str = ""
    push_name: str = ""


@dataclass(frozen=True)
class ConnectionLost:
    """A transient drop: the session keys are intact and the runner reconnects on its schedule."""

    error: ErrorCode = ErrorCode.CONNECTION_LOST
    detail: str = ""


@dataclass(frozen=True)
class LoggedOut:
    """A permanent end: the session is dead (the adapter has already cleared it where WhatsApp says
    so). ``reason`` is one of seed 000's permanent reasons: revoked, replaced, banned, unlinked,
    device_removed, logged_out, multidevice_mismatch — or client_outdated."""

    reason: str
    error: ErrorCode
    detail: str = ""


@dataclass(frozen=True)
class TemporarilyBanned:
    expires_in_s: int | None
    reason: str = ""


@dataclass(frozen=True)
class MessageReceived:
    message: InboundMessage


@dataclass(frozen=True)
class HistoryBatch:
    messages: tuple[InboundMessage, ...]
    progress: int | None = None  # percent, when WhatsApp says


@dataclass(frozen=True)
class ReceiptReceived:
    chat_jid: str
    sender_jid: str  # who read/received (the chat for DMs, the member in groups)
    wa_ids: tuple[str, ...]
    status: ReceiptStatus
    timestamp: datetime


@dataclass(frozen=True)
class ReactionReceived:
    chat_jid: str
    sender_jid: str
    target_wa_id: str
    emoji: str  # empty = reaction removed
    timestamp: datetime
    from_me: bool = False


@dataclass(frozen=True)
class MessageEdited:
    chat_jid: str
    sender_jid: str
    target_wa_id: str
    text: str
    timestamp: datetime
    from_me: bool = False


@dataclass(frozen=True)
class MessageRevoked:
    chat_jid: str
    sender_jid: str
    target_wa_id: str
    timestamp: datetime
    from_me: bool = False


@dataclass(frozen=True)
class PresenceChanged:
    jid: str
    available: bool
    last_seen: datetime | None = None


@dataclass(frozen=True)
class ChatPresenceChanged:
    chat_jid: str
    sender_jid: str
    state: ChatState


@dataclass(frozen=True)
class IdentityLinked:
    """WhatsApp revealed that a phone JID and a LID are the same person."""

    phone_jid: str
    lid: str


# Seed 000's permanent disconnect reasons (plus client_outdated), and the member each reports.
PERMANENT_REASONS: dict[str, ErrorCode] = {
    "revoked": ErrorCode.LOGGED_OUT,  # the user revoked this linked device
    "replaced": ErrorCode.SESSION_REPLACED,  # the same keys connected elsewhere
    "banned": ErrorCode.AUTH_BANNED,
    "unlinked": ErrorCode.LOGGED_OUT,  # unlinked manually
    "device_removed": ErrorCode.AUTH_DEVICE_REMOVED,
    "logged_out": ErrorCode.LOGGED_OUT,  # logout from the primary device
    "multidevice_mismatch": ErrorCode.AUTH_MULTIDEVICE_MISMATCH,
    "client_outdated": ErrorCode.CLIENT_OUTDATED,
}
# Seed 000's transient disconnect reasons and theirs.
TRANSIENT_REASONS: dict[str, ErrorCode] = {
    "connection_lost": ErrorCode.CONNECTION_LOST,
    "reconnect_failed": ErrorCode.CONNECTION_LOST,
    "health_check_timeout": ErrorCode.HEALTH_CHECK_FAILED,
    "connection_timeout": ErrorCode.CONNECTION_TIMEOUT,
}


EngineEvent = (
    QRCodeIssued | QRWindowClosed | Paired | Connected | ConnectionLost | LoggedOut | TemporarilyBanned
    | MessageReceived | HistoryBatch | ReceiptReceived | ReactionReceived | MessageEdited | MessageRevoked
    | PresenceChanged | ChatPresenceChanged | IdentityLinked
)
EventSink = Callable[[EngineEvent], None]


@dataclass(frozen=True)
class EngineConfig:
    """Everything an adapter needs to host one device."""

    device_id: str
    # Where the WhatsApp session keys live: a ``postgres://`` URL (tables shared by all devices,
    # rows keyed by JID) or a per-device SQLite file path.
    session_store: str
    # The JID of the stored session to resume; empty means "no session yet" (link a new one).
    # Adapters resume by this JID and never pick "the first device" of a shared store.
    session_jid: str = ""
    display_name: str = "WhatsApp Gateway"  # shown on the phone under Linked devices
    options: dict[str, Any] = field(default_factory=dict)  # adapter-specific (simulator time scale…)


# --- the port --------------------------------------------------------------------------------


class Engine(abc.ABC):
    """One WhatsApp client for one device."""

    name: str = "engine"

    def __init__(self, config: EngineConfig, sink: EventSink) -> None:
        self.config = config
        self.sink = sink

    # lifecycle -----------------------------------------------------------------------------

    @abc.abstractmethod
    def connect(self) -> None:
        """Open the connection and return once it is under way. With a stored session this resumes
        it (``Connected`` follows); without one it starts QR linking (``QRCodeIssued`` follows)."""

    @abc.abstractmethod
    def pair_phone(self, phone_digits: str) -> str:
        """Request an 8-character pairing code for ``phone_digits`` (E.164 digits, no ``+``).
        Needs a connection that is not logged in yet (call after the first QR)."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Close the connection and keep the session (a restart resumes it)."""

    @abc.abstractmethod
    def logout(self) -> None:
        """Unlink from the account and delete the session keys."""

    @abc.abstractmethod
    def is_connected(self) -> bool:
        """Whether the connection is up and logged in."""

    @abc.abstractmethod
    def probe(self, timeout_s: float) -> None:
        """A round trip to WhatsApp (health heartbeat); raises ``HEALTH_CHECK_FAILED`` when it fails."""

    @abc.abstractmethod
    def has_session(self) -> bool:
        """Whether session keys for this device are stored."""

    # messages ------------------------------------------------------------------------------

    @abc.abstractmethod
    def send(self, message: OutgoingMessage) -> SendResult: ...

    @abc.abstractmethod
    def react(self, chat_jid: str, target_wa_id: str, target_sender_jid: str, emoji: str,
              *, wa_id: str) -> SendResult:
        """React to a message (``emoji=""`` removes the reaction)."""

    @abc.abstractmethod
    def edit(self, chat_jid: str, target_wa_id: str, text: str, *, wa_id: str) -> SendResult: ...

    @abc.abstractmethod
    def revoke(self, chat_jid: str, target_wa_id: str, target_sender_jid: str, *, wa_id: str) -> SendResult: ...

    @abc.abstractmethod
    def mark_read(self, chat_jid: str, sender_jid: str, wa_ids: list[str], timestamp: datetime) -> None: ...

    @abc.abstractmethod
    def set_presence(self, available: bool) -> None: ...

    @abc.abstractmethod
    def send_chat_state(self, chat_jid: str, state: ChatState) -> None: ...

    @abc.abstractmethod
    def subscribe_presence(self, jid: str) -> None: ...

    @abc.abstractmethod
    def download_media(self, media: MediaRef) -> bytes:
        """The plain bytes of an attachment (``MEDIA_EXPIRED`` when WhatsApp no longer has it)."""

    # groups --------------------------------------------------------------------------------

    @abc.abstractmethod
    def create_group(self, name: str, participants: list[str]) -> GroupInfo: ...

    @abc.abstractmethod
    def group_info(self, group_jid: str) -> GroupInfo: ...

    @abc.abstractmethod
    def joined_groups(self) -> list[GroupInfo]: ...

    @abc.abstractmethod
    def group_invite_link(self, group_jid: str, reset: bool = False) -> str: ...

    @abc.abstractmethod
    def join_group(self, invite_code: str) -> str:
        """Join by invite code (or full link); returns the group JID."""

    @abc.abstractmethod
    def leave_group(self, group_jid: str) -> None: ...

    @abc.abstractmethod
    def update_participants(self, group_jid: str, jids: list[str],
                            action: ParticipantAction) -> list[GroupParticipant]: ...

    @abc.abstractmethod
    def set_group_name(self, group_jid: str, name: str) -> None: ...

    @abc.abstractmethod
    def set_group_topic(self, group_jid: str, topic: str) -> None: ...

    # contacts ------------------------------------------------------------------------------

    @abc.abstractmethod
    def is_on_whatsapp(self, phones: list[str]) -> list[OnWhatsApp]: ...

    @abc.abstractmethod
    def user_info(self, jids: list[str]) -> list[UserInfo]: ...

    @abc.abstractmethod
    def profile_picture(self, jid: str) -> ProfilePicture | None: ...

    @abc.abstractmethod
    def lid_for_phone(self, phone_jid: str) -> str:
        """The LID twin of a phone JID, or ``""`` when unknown."""

    @abc.abstractmethod
    def phone_for_lid(self, lid: str) -> str:
        """The phone JID twin of a LID, or ``""`` when unknown."""

    def close(self) -> None:
        """Release every resource (the runner calls it once, at exit). Keeps the session."""
        self.disconnect()
