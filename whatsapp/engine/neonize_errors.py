"""Classify neonize/whatsmeow failures into :class:`~whatsapp.errors.ErrorCode` members.

neonize hands every Go error to Python as a string inside a typed exception (``SendMessageError``,
``UploadError``, ``PairPhoneError``…; plain ``NeonizeError`` from ``connect()``), and every
disconnect/logout as a protobuf enum. Classification therefore uses, in this order:

1. the **exception type** (via its class name, so this module never imports neonize and loading it
   never starts the Go core) — it gives the operation and the fallback member;
2. the **codes whatsmeow puts in its error strings** (``server returned error 479``,
   ``info query returned status 429: rate-overlimit``, ``download failed with status code 410``);
3. **whatsmeow's sentinel errors and Go's net/TLS errors**, whose ``Error()`` texts are fixed
   constants in the embedded Go code (``websocket not connected``, ``info query timed out``,
   ``dial tcp: lookup web.whatsapp.com …: no such host``, ``tls: …``/``x509: …``). Matching those
   constants is matching an error identity, not guessing from prose.

Rules (``§`` = reference/whatsapp-behaviour.md, ``notes`` = reference/neonize-notes.md,
``wa-srv`` = reference/wa-server-notes.md §11.2, ``go`` = the Go standard library):

====================================================  ===============================  =========
condition                                             member                           source
====================================================  ===============================  =========
session store: ``failed to upgrade database``, sqlite/pq errors (connect, has_session)
  … ``database is locked``                            DB_LOCKED                        notes §1.1
  … ``no space left on device``                       DB_DISK_FULL                     go
  … ``file is not a database`` / ``malformed``        DB_CORRUPT                       sqlite
  … refused / no such host / missing db or directory  SERVICE_UNAVAILABLE              notes §1.1
  … anything else                                     DB_MIGRATION_FAILED              notes §1.1
``lookup <host>…:`` (DNS resolution, any cause)       CONNECTION_DNS_FAILED            notes §3, go
``tls: …`` / ``x509: …``                              CONNECTION_TLS_FAILED            go
``websocket disconnected before … returned response`` CONNECTION_ABORTED               §3
``info query timed out`` / ``context deadline``       CONNECTION_TIMEOUT               §3, notes §3
  … during a group send                               GROUP_PREKEY_TIMEOUT             wa-srv
``timed out waiting for message send response``       CONNECTION_TIMEOUT               §4.1
``i/o timeout`` / ``timed out waiting for handshake`` CONNECTION_TIMEOUT               go
``websocket not connected`` (ErrNotConnected)         MESSAGE_NOT_CONNECTED; on connect/probe
                                                      CONNECTION_LOST                  §3
``the store doesn't contain a device JID``,
neonize ``client is nil``                             MESSAGE_NOT_CONNECTED            §3, notes
refused / reset / unreachable / ``failed to dial``    CONNECTION_LOST                  notes §3
``context canceled``                                  REQUEST_CANCELED                 wa-srv
ack ``server returned error 463`` (reach-out lock)    PROVIDER_RATE_LIMITED            §4.3
ack 479 (smax-invalid, often transient), 400, 403,
  420, 421, 500 and any other ack code                MESSAGE_SEND_FAILED              §4.3
ack 429                                               PROVIDER_RATE_LIMITED            §4.3
ack 405 (outdated client)                             CLIENT_OUTDATED                  §4.3
ack 406 in a group                                    GROUP_POSTING_RESTRICTED         wa-srv
IQ 429 ``rate-overlimit`` / 419 ``resource-limit``    PROVIDER_RATE_LIMITED            §4.3
IQ 406 ``not-acceptable`` in a group send             GROUP_POSTING_RESTRICTED         wa-srv
IQ 403 ``forbidden`` / ErrNotInGroup in a group send  GROUP_POSTING_RESTRICTED         §8, wa-srv
IQ 403/401/423 elsewhere                              FORBIDDEN                        §4.3
IQ 400/406 (pairing)                                  AUTH_PAIRING_FAILED              §1.3
IQ 400/406 elsewhere                                  VALIDATION_ERROR                 §4.3, §8
IQ 404 (send) / ``no LID found`` / unknown server     MESSAGE_RECIPIENT_NOT_FOUND      §2
IQ 404/410, ``that group does not exist``,
  ``invite link has been revoked``                    NOT_FOUND                        §8
``invite link is not valid``                          VALIDATION_ERROR                 §8
IQ 408                                                CONNECTION_TIMEOUT               §4.3
IQ 500/503/530                                        PROVIDER_ERROR                   §4.3
``download failed with status code`` 403/404/410      MEDIA_EXPIRED                    §6
  … 429 / other                                       MEDIA_RATE_LIMITED / MEDIA_DOWNLOAD_FAILED  §6
``upload failed with status code`` 413 / 429 / other  MEDIA_TOO_LARGE / MEDIA_RATE_LIMITED /
                                                      MEDIA_UPLOAD_FAILED              §6
``no url present``                                    NO_MEDIA                         §6
hash/HMAC mismatch, ``file too short``                MEDIA_DOWNLOAD_FAILED            §6
phone number too short / not international            AUTH_PAIRING_FAILED              §1.3
fallback by exception type                            see ``_TYPE_FALLBACK``
====================================================  ===============================  =========

Precedence, first match wins: session store → transport (DNS, TLS, aborted, timeouts, cancelled,
not connected) → codes WhatsApp returned (ack, IQ, media HTTP) → whatsmeow's semantic sentinels →
link down → the exception type's fallback. So ``failed to get user info …: info query timed out`` is a
timeout, not an unknown recipient, and a store error mentioning ``no such host`` is the store's.

Disconnect reasons (neonize ``ConnectFailureReason``, §3 and §9) become port events in
:func:`logged_out_event`, :func:`connect_failure_event` and :func:`temporary_ban_event`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from whatsapp.engine.base import PERMANENT_REASONS, ConnectionLost, LoggedOut, TemporarilyBanned
from whatsapp.errors import ErrorCode, WhatsAppError

__all__ = [
    "GoErrorFacts",
    "classify",
    "classify_text",
    "connect_failure_event",
    "disconnect_event",
    "error_text",
    "logged_out_event",
    "parse_go_error",
    "temporary_ban_event",
]

# --- operations and the fallback member of each neonize exception type ----------------------

# The operation an exception type belongs to, and the member used when nothing more specific
# is found in its Go string (neonize/exc.py, 0.5.2).
_TYPE_FALLBACK: dict[str, tuple[str, ErrorCode]] = {
    "SendMessageError": ("send", ErrorCode.MESSAGE_SEND_FAILED),
    "UploadError": ("upload", ErrorCode.MEDIA_UPLOAD_FAILED),
    "DownloadError": ("download", ErrorCode.MEDIA_DOWNLOAD_FAILED),
    "PairPhoneError": ("pair", ErrorCode.AUTH_PAIRING_FAILED),
    "LogoutError": ("logout", ErrorCode.WHATSAPP_ERROR),
    "MarkReadError": ("receipt", ErrorCode.PROVIDER_ERROR),
    "SendPresenceError": ("presence", ErrorCode.PROVIDER_ERROR),
    "SubscribePresenceError": ("presence", ErrorCode.PROVIDER_ERROR),
    "IsOnWhatsAppError": ("query", ErrorCode.PROVIDER_ERROR),
    "GetUserInfoError": ("query", ErrorCode.PROVIDER_ERROR),
    "GetProfilePictureError": ("query", ErrorCode.PROVIDER_ERROR),
    "GetJIDFromStoreError": ("query", ErrorCode.PROVIDER_ERROR),
    "CreateGroupError": ("group", ErrorCode.PROVIDER_ERROR),
    "GetGroupInfoError": ("group", ErrorCode.PROVIDER_ERROR),
    "GetJoinedGroupsError": ("group", ErrorCode.PROVIDER_ERROR),
    "GetGroupInviteLinkError": ("group", ErrorCode.PROVIDER_ERROR),
    "InviteLinkError": ("join", ErrorCode.PROVIDER_ERROR),
    "JoinGroupWithInviteError": ("join", ErrorCode.PROVIDER_ERROR),
    "LeaveGroupError": ("group", ErrorCode.PROVIDER_ERROR),
    "SetGroupNameError": ("group", ErrorCode.PROVIDER_ERROR),
    "SetGroupTopicError": ("group", ErrorCode.PROVIDER_ERROR),
    "UpdateGroupParticipantsError": ("group", ErrorCode.PROVIDER_ERROR),
    # connect() raises the base class itself: setup (store) or initial dial failures.
    "NeonizeError": ("connect", ErrorCode.CONNECTION_LOST),
}
_DEFAULT_FALLBACK = ("", ErrorCode.WHATSAPP_ERROR)
# Operations whose "not connected" means the link is down, not "this device isn't usable yet".
_LINK_OPS = frozenset({"connect", "probe"})

# --- structured parts of whatsmeow / Go error strings ------------------------------------------

_ACK = re.compile(r"\bserver returned error (\d{3})\b")  # fmt.Errorf("%w %d", ErrServerReturnedError, code)
_IQ = re.compile(r"\binfo query returned status (\d{3}): ([a-z-]*)")  # IQError.Error()
_DOWNLOAD = re.compile(r"\bdownload failed with status code (\d{3})\b")  # DownloadHTTPError
_UPLOAD = re.compile(r"\bupload failed with status code (\d{3})\b")  # upload.go
_LOOKUP = re.compile(r"\blookup \S+(?: on \S+)?\s?: ")  # net.DNSError: "lookup <host> [on <srv>]: <why>"
_TLS = re.compile(r"(?:^|[\s:])(?:tls|x509): |first record does not look like a TLS handshake")
_DB = re.compile(r"failed to upgrade database|unable to open database file|\bsqlite3?: |\bpq: |failed to open database")
_DB_UNAVAILABLE = re.compile(r"connection refused|no such host|does not exist|no such file or directory|"
                             r"unable to open database file|network is unreachable|i/o timeout")
_LINK_DOWN = re.compile(r"connection refused|connection reset by peer|network is unreachable|no route to host|"
                        r"broken pipe|failed to dial whatsapp web websocket|socks connect|unexpected EOF")

# whatsmeow sentinel errors (exact Error() texts in the embedded Go code) -> (kind)
_SENTINELS: tuple[tuple[str, str], ...] = (
    ("websocket disconnected before", "aborted"),  # *DisconnectedError
    ("info query timed out", "iq_timeout"),  # ErrIQTimedOut
    ("timed out waiting for message send response", "ack_timeout"),  # ErrMessageTimedOut
    ("context deadline exceeded", "deadline"),  # Go context
    ("timed out waiting for handshake response", "timeout"),
    ("i/o timeout", "timeout"),  # Go net
    ("context canceled", "canceled"),
    ("websocket not connected", "not_connected"),  # ErrNotConnected
    ("the store doesn't contain a device JID", "not_logged_in"),  # ErrNotLoggedIn
    ("client is nil", "not_logged_in"),  # neonize: the Go client is not registered
    ("you're not participating in that group", "not_in_group"),  # ErrNotInGroup
    ("that group does not exist", "group_not_found"),  # ErrGroupNotFound
    ("that group invite link has been revoked", "invite_revoked"),  # ErrInviteLinkRevoked
    ("that group invite link is not valid", "invite_invalid"),  # ErrInviteLinkInvalid
    ("no LID found for", "no_recipient"),  # send.go: unregistered number
    ("can't send message to unknown server", "bad_recipient"),  # ErrUnknownServer
    ("phone number too short", "bad_phone"),  # ErrPhoneNumberTooShort
    ("international phone number required", "bad_phone"),  # ErrPhoneNumberIsNotInternational
    ("no url present", "no_media"),  # ErrNoURLPresent
    ("hash of media ciphertext doesn't match", "media_corrupt"),  # ErrInvalidMediaEncSHA256
    ("invalid media hmac", "media_corrupt"),  # ErrInvalidMediaHMAC
    ("hash of media plaintext doesn't match", "media_corrupt"),  # ErrInvalidMediaSHA256
    ("file too short", "media_corrupt"),  # ErrTooShortFile
)


@dataclass(frozen=True)
class GoErrorFacts:
    """The structured parts of one Go error string."""

    text: str
    ack_code: int | None = None
    iq_code: int | None = None
    iq_text: str = ""
    download_status: int | None = None
    upload_status: int | None = None
    kinds: frozenset[str] = field(default_factory=frozenset)

    def details(self) -> dict[str, object]:
        out: dict[str, object] = {"whatsapp_error": self.text}
        for key in ("ack_code", "iq_code", "download_status", "upload_status"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.iq_text:
            out["iq_text"] = self.iq_text
        return out


def _int(match: re.Match[str] | None) -> int | None:
    return int(match.group(1)) if match else None


def parse_go_error(text: str) -> GoErrorFacts:
    """Extract whatsmeow's codes and the known sentinel/network conditions from an error string."""
    iq = _IQ.search(text)
    kinds = {kind for needle, kind in _SENTINELS if needle in text}
    if _DB.search(text):
        kinds.add("store")
    if _LOOKUP.search(text):
        kinds.add("dns")
    if _TLS.search(text):
        kinds.add("tls")
    if _LINK_DOWN.search(text):
        kinds.add("link_down")
    return GoErrorFacts(
        text=text, ack_code=_int(_ACK.search(text)), iq_code=int(iq.group(1)) if iq else None,
        iq_text=iq.group(2) if iq else "", download_status=_int(_DOWNLOAD.search(text)),
        upload_status=_int(_UPLOAD.search(text)), kinds=frozenset(kinds),
    )


def _store_code(text: str) -> ErrorCode:
    """A failure of whatsmeow's session store (SQLite file or PostgreSQL)."""
    lowered = text.lower()
    if "database is locked" in lowered:
        return ErrorCode.DB_LOCKED
    if "no space left on device" in lowered:
        return ErrorCode.DB_DISK_FULL
    if "file is not a database" in lowered or "malformed" in lowered:
        return ErrorCode.DB_CORRUPT
    if _DB_UNAVAILABLE.search(text):
        return ErrorCode.SERVICE_UNAVAILABLE
    return ErrorCode.DB_MIGRATION_FAILED


def _ack_code(code: int, *, group: bool) -> ErrorCode:
    """The ``error`` attribute of a message ack (§4.3)."""
    if code in (463, 429):
        return ErrorCode.PROVIDER_RATE_LIMITED
    if code == 405:
        return ErrorCode.CLIENT_OUTDATED
    if code == 406 and group:
        return ErrorCode.GROUP_POSTING_RESTRICTED
    return ErrorCode.MESSAGE_SEND_FAILED


def _iq_code(code: int, text: str, *, op: str, group: bool) -> ErrorCode | None:
    """An ``IQError`` (§4.3): the status code, with the operation deciding what it means."""
    if code in (429, 419) or text in ("rate-overlimit", "resource-limit"):
        return ErrorCode.PROVIDER_RATE_LIMITED
    if op == "send" and group and (code in (403, 406) or text in ("not-acceptable", "forbidden", "announcement")):
        return ErrorCode.GROUP_POSTING_RESTRICTED
    if code in (400, 406):
        return ErrorCode.AUTH_PAIRING_FAILED if op == "pair" else ErrorCode.VALIDATION_ERROR
    if code in (401, 403, 423):
        return ErrorCode.FORBIDDEN
    if code == 404:
        return ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND if op == "send" else ErrorCode.NOT_FOUND
    if code == 410:
        return ErrorCode.NOT_FOUND
    if code == 408:
        return ErrorCode.CONNECTION_TIMEOUT
    if code >= 500:
        return ErrorCode.PROVIDER_ERROR
    return None


def _media_code(facts: GoErrorFacts) -> ErrorCode | None:
    if facts.download_status is not None:
        if facts.download_status in (403, 404, 410):
            return ErrorCode.MEDIA_EXPIRED
        return ErrorCode.MEDIA_RATE_LIMITED if facts.download_status == 429 else ErrorCode.MEDIA_DOWNLOAD_FAILED
    if facts.upload_status is not None:
        if facts.upload_status == 413:
            return ErrorCode.MEDIA_TOO_LARGE
        return ErrorCode.MEDIA_RATE_LIMITED if facts.upload_status == 429 else ErrorCode.MEDIA_UPLOAD_FAILED
    if "no_media" in facts.kinds:
        return ErrorCode.NO_MEDIA
    if "media_corrupt" in facts.kinds:
        return ErrorCode.MEDIA_DOWNLOAD_FAILED
    return None


def classify_text(text: str, *, op: str = "", group: bool = False,
                  fallback: ErrorCode = ErrorCode.WHATSAPP_ERROR) -> tuple[ErrorCode, GoErrorFacts]:
    """The member for a Go error string met during ``op`` (see the module table for the rules).

    ``group`` says the operation targeted a group (a send into ``…@g.us``), which is what turns a
    timeout into ``GROUP_PREKEY_TIMEOUT`` and ``not-acceptable`` into ``GROUP_POSTING_RESTRICTED``.
    """
    facts = parse_go_error(text)
    kinds = facts.kinds
    # 1. The session store: its errors may embed network errors of the database connection.
    if "store" in kinds:
        return _store_code(text), facts
    # 2. Transport: DNS, TLS, aborted, timeouts, cancelled, link down.
    if "dns" in kinds:
        return ErrorCode.CONNECTION_DNS_FAILED, facts
    if "tls" in kinds:
        return ErrorCode.CONNECTION_TLS_FAILED, facts
    if "aborted" in kinds:
        return ErrorCode.CONNECTION_ABORTED, facts
    if kinds & {"iq_timeout", "deadline"} and op == "send" and group:
        return ErrorCode.GROUP_PREKEY_TIMEOUT, facts
    if kinds & {"iq_timeout", "deadline", "ack_timeout", "timeout"}:
        return ErrorCode.CONNECTION_TIMEOUT, facts
    if "canceled" in kinds:
        return ErrorCode.REQUEST_CANCELED, facts
    if kinds & {"not_connected", "not_logged_in"}:
        if op in _LINK_OPS and "not_connected" in kinds:
            return ErrorCode.CONNECTION_LOST, facts
        return ErrorCode.MESSAGE_NOT_CONNECTED, facts
    # 3. Codes WhatsApp returned.
    if facts.ack_code is not None:
        return _ack_code(facts.ack_code, group=group), facts
    if facts.iq_code is not None:
        code = _iq_code(facts.iq_code, facts.iq_text, op=op, group=group)
        if code is not None:
            return code, facts
    media = _media_code(facts)
    if media is not None:
        return media, facts
    # 4. whatsmeow's semantic sentinels.
    if "not_in_group" in kinds:
        return (ErrorCode.GROUP_POSTING_RESTRICTED if op == "send" else ErrorCode.FORBIDDEN), facts
    if kinds & {"group_not_found", "invite_revoked"}:
        return ErrorCode.NOT_FOUND, facts
    if "invite_invalid" in kinds:
        return ErrorCode.VALIDATION_ERROR, facts
    if kinds & {"no_recipient", "bad_recipient"}:
        return ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, facts
    if "bad_phone" in kinds:
        return ErrorCode.AUTH_PAIRING_FAILED, facts
    if "link_down" in kinds:
        return ErrorCode.CONNECTION_LOST, facts
    return fallback, facts


def _type_fallback(exc: BaseException) -> tuple[str, ErrorCode]:
    """Operation and fallback member from the most specific neonize class in the exception's MRO."""
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("neonize") and cls.__name__ in _TYPE_FALLBACK:
            return _TYPE_FALLBACK[cls.__name__]
    return _DEFAULT_FALLBACK


def error_text(exc: BaseException) -> str:
    """The Go error string of a neonize exception.

    ``GetProfilePictureError`` is raised with the whole return protobuf as its argument (neonize
    0.5.2), so an argument with an ``Error`` attribute is unwrapped.
    """
    arg = exc.args[0] if exc.args else ""
    if hasattr(arg, "Error"):
        arg = arg.Error
    if isinstance(arg, bytes):
        arg = arg.decode("utf-8", "replace")
    return str(arg)


def classify(exc: BaseException, *, op: str = "", group: bool = False, message: str | None = None) -> WhatsAppError:
    """A :class:`WhatsAppError` for a neonize exception.

    The exception type names the operation (unless ``op`` overrides it, e.g. ``probe``) and the
    fallback member; the Go string refines it by code (see the module table).
    """
    if isinstance(exc, WhatsAppError):
        return exc
    type_op, fallback = _type_fallback(exc)
    op = op or type_op
    text = error_text(exc)
    code, facts = classify_text(text, op=op, group=group, fallback=fallback)
    details = facts.details()
    details["operation"] = op or "unknown"
    details["exception"] = type(exc).__name__
    if facts.ack_code == 463:
        message = message or ("WhatsApp refused the message: this account is time-locked from reaching out "
                              "to new contacts (ack 463)")
    elif facts.ack_code == 479:
        message = message or "WhatsApp rejected the message stanza (ack 479, smax-invalid)"
    return WhatsAppError(code, message, details=details)


# --- disconnect / logout / ban reasons ------------------------------------------------------

# neonize's ConnectFailureReason enum (Neonize.proto) -> whatsmeow's numeric code (§9).
REASON_TO_WHATSMEOW: dict[int, int] = {1: 400, 2: 401, 3: 402, 4: 403, 5: 406, 6: 405, 7: 409, 8: 500, 9: 501, 10: 503}
# whatsmeow TempBanReason (neonize enum value -> name used in TemporarilyBanned.reason), §3.
TEMP_BAN_REASONS: dict[int, str] = {
    1: "sent_to_too_many_people", 2: "blocked_by_users", 3: "created_too_many_groups",
    4: "sent_too_many_same_message", 5: "broadcast_list",
}


def _logged_out(reason: str, detail: str) -> LoggedOut:
    return LoggedOut(reason=reason, error=PERMANENT_REASONS[reason], detail=detail)


def logged_out_event(reason: int | None, *, on_connect: bool) -> LoggedOut:
    """``LoggedOut{OnConnect, Reason}``: the session is dead and whatsmeow deleted it (§3).

    * 401 from a stream error is ``<conflict type="device_removed">`` → ``device_removed``;
      401 at connect means the user removed this linked device while we were away → ``revoked``.
    * 403 "primary device was logged out" → ``logged_out``.
    * 406 "logged out for unknown reason", which WA Web calls BANNED → ``banned``.
    """
    code = REASON_TO_WHATSMEOW.get(reason or 0)
    detail = f"whatsmeow reason {code or 'unset'} ({'at connect' if on_connect else 'stream error'})"
    if code == 401:
        return _logged_out("revoked" if on_connect else "device_removed", detail)
    if code == 406:
        return _logged_out("banned", detail)
    return _logged_out("logged_out", detail)


def temporary_ban_event(code: int | None, expire_s: int | None) -> TemporarilyBanned:
    """``TemporaryBan{Code, Expire}``: ``Expire`` is the remaining duration in seconds, 0 = unknown."""
    return TemporarilyBanned(expires_in_s=int(expire_s) if expire_s and expire_s > 0 else None,
                             reason=TEMP_BAN_REASONS.get(code or 0, "unknown"))


def connect_failure_event(reason: int | None, message: str = "") -> LoggedOut | TemporarilyBanned | ConnectionLost:
    """``ConnectFailure{Reason, Message}`` (§3).

    401/403/406 are logouts; 402 a temporary ban; 405 and 409 (user agent rejected) mean this client
    must be updated; 500/503 are server trouble that whatsmeow retries by itself; anything else —
    400, 501 and the codes neonize leaves unmapped (413/414/415/418, ``reason=None``) — keeps the
    session and lets the runner reconnect on its schedule.
    """
    code = REASON_TO_WHATSMEOW.get(reason or 0)
    detail = f"connect failure {code or 'unmapped'}" + (f": {message}" if message else "")
    if code in (401, 403, 406):
        return logged_out_event(reason, on_connect=True)
    if code == 402:
        return TemporarilyBanned(expires_in_s=None, reason="temp_banned")
    if code in (405, 409):
        return _logged_out("client_outdated", detail)
    return ConnectionLost(error=ErrorCode.PROVIDER_ERROR, detail=detail)


def disconnect_event(name: str, ev: Any) -> LoggedOut | TemporarilyBanned | ConnectionLost | None:
    """The port event for a neonize disconnect-class event named ``name`` (its protobuf type), or
    None for any other event. ``StreamReplaced`` keeps the keys but must not be retried in a loop."""
    reason = ev.Reason if name in ("LoggedOut", "ConnectFailure") and ev.HasField("Reason") else None
    if name == "LoggedOut":
        return logged_out_event(reason, on_connect=ev.OnConnect)
    if name == "StreamReplaced":
        return _logged_out("replaced", "another client connected with this session's keys")
    if name == "ClientOutdated":
        return _logged_out("client_outdated", "connect failure 405")
    if name == "TemporaryBan":
        return temporary_ban_event(ev.Code, ev.Expire)
    if name == "ConnectFailure":
        return connect_failure_event(reason, ev.Message)
    return None
