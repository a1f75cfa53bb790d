"""The gateway's one error vocabulary (SPEC §4).

Every error any surface returns (REST, MCP, webhooks, admin) is a member of :class:`ErrorCode`.
A member has an UPPER ``code`` (the MCP server's name, seed 000), a lower ``api_code`` (the
wa-server REST name, seed 001), an HTTP status, a category, a default message and a recovery text.
Where both seeds name one condition the member carries both names and seed 001's HTTP status.

This is a leaf module: stdlib only, no Django, so that every layer (bridge workers, MCP, REST,
webhooks, docs generator) can import it. ``docs/errors.md`` is generated from this enum
(``python manage.py errors``); a test fails when the two differ.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["FAMILIES", "SOURCES", "Category", "ErrorCode", "ErrorSpec", "WhatsAppError"]


class Category(enum.StrEnum):
    """Seed 000's classification: decides automatic retry and the user's next step."""

    TRANSIENT = "transient"  # retried automatically; wait for auto-recovery
    PERMANENT = "permanent"  # not retried; re-authenticate / relink required
    CLIENT_ERROR = "client_error"  # not retried; fix input or configuration
    UNKNOWN = "unknown"  # not retried; check logs, report a bug


#: Families (layers) in documentation order, with their titles.
FAMILIES: dict[str, str] = {
    "auth": "Authentication and pairing",
    "connection": "Connection",
    "provider": "WhatsApp provider",
    "devices": "Devices",
    "messaging": "Messaging",
    "media": "Media",
    "search": "Search",
    "approvals": "Approvals",
    "webhooks": "Webhooks",
    "database": "Database",
    "permissions": "Permissions",
    "access": "API access",
    "api": "API / gateway requests",
}

#: Which documents name a code: seed 000 (MCP server), seed 001 (wa-server), or the gateway itself
#: (SPEC/reference additions, including Onebrick's wa-server extensions).
SOURCES = frozenset({"seed000", "seed001", "gateway"})

#: Statuses that always carry a ``Retry-After`` header, so every member with one has a default.
RETRY_AFTER_STATUSES = frozenset({429, 503})

_API_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ErrorSpec:
    """The value of an :class:`ErrorCode` member. ``api_code`` is unique, so no two values are equal."""

    api_code: str
    status: int
    category: Category
    family: str
    sources: frozenset[str]
    message: str
    recovery: str
    retry_after_s: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not _API_CODE_RE.match(self.api_code):
            problems.append("api_code must be lower_snake")
        if not 100 <= self.status <= 599:
            problems.append("status out of range")
        if not isinstance(self.category, Category):
            problems.append("category must be a Category")
        if self.family not in FAMILIES:
            problems.append(f"unknown family {self.family!r}")
        if not self.sources or not self.sources <= SOURCES:
            problems.append(f"bad sources {sorted(self.sources)}")
        if not self.message.strip() or not self.recovery.strip():
            problems.append("message and recovery must be non-empty")
        if self.status in RETRY_AFTER_STATUSES and self.retry_after_s is None:
            problems.append("429/503 members need a default retry_after_s")
        if problems:
            raise ValueError(f"ErrorSpec({self.api_code!r}): " + "; ".join(problems))


_T, _P, _C, _U = Category.TRANSIENT, Category.PERMANENT, Category.CLIENT_ERROR, Category.UNKNOWN
_S0 = frozenset({"seed000"})
_S1 = frozenset({"seed001"})
_S01 = frozenset({"seed000", "seed001"})
_GW = frozenset({"gateway"})
_S0GW = frozenset({"seed000", "gateway"})
_RELINK = "call the authenticate tool, or POST /devices/{id}/qr (or /devices/{id}/pair-code) and scan"


class ErrorCode(enum.Enum):
    """Every error of the gateway. The member name is the UPPER ``code``."""

    # One member per call, positional (api_code, status, category, family, sources, message, recovery)
    # and kept compact by hand so the whole vocabulary reads as a table.
    # fmt: off
    # --- auth: WhatsApp account authentication and pairing ----------------------------------------
    AUTH_RATE_LIMITED = ErrorSpec(
        "auth_rate_limited", 429, _T, "auth", _S0, "Too many authentication attempts (WhatsApp-side limit)",
        "Wait 10-15 minutes, then retry.", retry_after_s=900)
    AUTH_PAIRING_FAILED = ErrorSpec(
        "auth_pairing_failed", 400, _C, "auth", _S0, "Pairing code rejected by WhatsApp",
        "Verify the phone number format (international, with country code) and that the WhatsApp "
        "mobile app is open, then request a new pairing code.")
    AUTH_QR_EXPIRED = ErrorSpec(
        "auth_qr_expired", 408, _T, "auth", _S0, "QR code timed out",
        "Request a new QR code via the authenticate tool or POST /devices/{id}/qr.")
    AUTH_SESSION_EXPIRED = ErrorSpec(
        "auth_session_expired", 401, _P, "auth", _S0, "WhatsApp session expired (~20 days of inactivity)",
        f"Re-link the device: {_RELINK}.")
    AUTH_DEVICE_REMOVED = ErrorSpec(
        "auth_device_removed", 410, _P, "auth", _S0, "Device removed from the WhatsApp account",
        f"Re-authenticate: {_RELINK}.")
    AUTH_BANNED = ErrorSpec(
        "auth_banned", 403, _P, "auth", _S0, "Account banned by WhatsApp",
        "Contact WhatsApp support; do not retry.")
    AUTH_TEMPORARILY_BANNED = ErrorSpec(
        "auth_temporarily_banned", 403, _T, "auth", _GW, "Account temporarily banned by WhatsApp",
        "Do not send while the ban lasts; retry after it ends (details.retry_after_s when WhatsApp "
        "states the expiry) and reduce sending volume.")
    AUTH_MULTIDEVICE_MISMATCH = ErrorSpec(
        "auth_multidevice_mismatch", 409, _P, "auth", _S0, "Multi-device state inconsistency",
        f"Re-authenticate: {_RELINK}; ensure the primary phone is online and connected.")
    LOGGED_OUT = ErrorSpec(
        "logged_out", 409, _P, "auth", _S1, "Session was logged out remotely",
        "Regenerate a new QR (POST /devices/{id}/qr or the authenticate tool) and relink.")
    TOO_MANY_DEVICES = ErrorSpec(
        "too_many_devices", 409, _P, "auth", _S1,
        "WhatsApp rejected pairing because too many devices are linked",
        "Unlink an existing device in WhatsApp (Settings > Linked devices), then regenerate the QR.")
    SESSION_REPLACED = ErrorSpec(
        "session_replaced", 409, _P, "auth", _GW,
        "Another client connected with this device's session keys (stream replaced)",
        "Make sure only one gateway runs this device; then relink it (POST /devices/{id}/qr or authenticate).")
    CLIENT_OUTDATED = ErrorSpec(
        "client_outdated", 409, _P, "auth", _S1, "WhatsApp requires a client update",
        "Reconnect the device to update the client version; if it persists, upgrade the gateway.")

    # --- connection --------------------------------------------------------------------------------
    CONNECTION_LOST = ErrorSpec(
        "whatsapp_connection_lost", 503, _T, "connection", _S01,
        "WhatsApp connection dropped (WebSocket disconnected)",
        "Retry the request; the gateway reconnects automatically (first attempt after 5 s). "
        "If it persists, reconnect or relink the device.", retry_after_s=5)
    CONNECTION_ABORTED = ErrorSpec(
        "whatsapp_connection_aborted", 503, _T, "connection", _S1,
        "WhatsApp connection was aborted during the request",
        "Retry the request. If persistent, disconnect and relink the device.", retry_after_s=5)
    CONNECTION_TIMEOUT = ErrorSpec(
        "upstream_timeout", 504, _T, "connection", _S01, "Timed out waiting for WhatsApp",
        "Retry with exponential backoff; for large groups this may be slow encryption/prekey setup "
        "rather than a permanent failure, so use a longer client timeout (70-90 s).")
    CONNECTION_DNS_FAILED = ErrorSpec(
        "connection_dns_failed", 502, _T, "connection", _S0, "DNS resolution failed",
        "Retried automatically; if it persists, check the gateway host's DNS configuration.")
    CONNECTION_TLS_FAILED = ErrorSpec(
        "connection_tls_failed", 500, _T, "connection", _S0, "TLS handshake failed",
        "Retried automatically; if it persists, check the gateway host's CA certificates.")
    HEALTH_CHECK_FAILED = ErrorSpec(
        "health_check_failed", 503, _T, "connection", _S0, "Health heartbeat detected a silent disconnect",
        "The gateway reconnects automatically (5 attempts with backoff); if all fail, check the "
        "gateway logs and reconnect the device.", retry_after_s=5)

    # --- provider: WhatsApp-side failures ---------------------------------------------------------
    PROVIDER_RATE_LIMITED = ErrorSpec(
        "provider_rate_limit", 429, _T, "provider", _S1,
        "WhatsApp provider rate limit encountered; this is temporary",
        "No action needed; the system retries automatically with backoff. Reduce sending volume "
        "if it recurs.", retry_after_s=60)
    PROVIDER_ERROR = ErrorSpec(
        "provider_error", 502, _T, "provider", _S1, "Provider/upstream service error",
        "Retry after a short delay; check WhatsApp's service status.")
    WHATSAPP_ERROR = ErrorSpec(
        "whatsapp_error", 502, _U, "provider", _GW, "Unclassified WhatsApp or bridge failure",
        "Check details and the gateway logs; report it with the request_id if it persists.")

    # --- devices: device lifecycle ----------------------------------------------------------------
    QR_RESET_NOT_ALLOWED = ErrorSpec(
        "qr_reset_not_allowed", 409, _C, "devices", _S1,
        "QR regeneration requested while a QR or session is still active",
        "Disconnect first (POST /devices/{id}/disconnect), or wait until the current QR expires.")
    DEVICE_DESTROYED = ErrorSpec(
        "device_destroyed", 410, _C, "devices", _S1, "Action attempted on a destroyed device",
        "Create a new device (POST /devices) and link it with a fresh QR.")

    # --- messaging --------------------------------------------------------------------------------
    MESSAGE_NOT_CONNECTED = ErrorSpec(
        "device_not_connected", 409, _C, "messaging", _S01, "WhatsApp is not connected for this device",
        f"Link the device first: {_RELINK}; retry once the device is connected (GET /devices/{{id}}).")
    MESSAGE_RATE_LIMITED = ErrorSpec(
        "rate_limit_exceeded", 429, _T, "messaging", _S0GW,
        "Outbound rate limit exceeded (RATE_LIMIT_PER_MIN)",
        "Wait for the Retry-After delay (the window is one minute), then retry; reduce send "
        "frequency.", retry_after_s=60)
    MESSAGE_TOO_LONG = ErrorSpec(
        "message_too_long", 413, _C, "messaging", _S0, "Message exceeds 4096 characters",
        "Shorten the message or split it into multiple messages.")
    MESSAGE_RECIPIENT_NOT_FOUND = ErrorSpec(
        "message_recipient_not_found", 404, _C, "messaging", _S0, "No contact or chat matches the recipient",
        "Use an exact JID or phone number (list_chats or search_contacts can find it).")
    MESSAGE_AMBIGUOUS_RECIPIENT = ErrorSpec(
        "message_ambiguous_recipient", 409, _C, "messaging", _S0, "Multiple contacts match the recipient",
        "Call again with the exact JID of one of the candidates as the recipient.")
    MESSAGE_CONTACT_BLOCKED = ErrorSpec(
        "message_contact_blocked", 403, _C, "messaging", _S0,
        "Recipient not in the ALLOWED_CONTACTS whitelist",
        "Add the recipient to ALLOWED_CONTACTS, or contact the gateway administrator.")
    MESSAGE_SEND_FAILED = ErrorSpec(
        "message_send_failed", 500, _T, "messaging", _S0, "WhatsApp server rejected the message",
        "Already retried once automatically; check the message content, then retry.")
    GROUP_POSTING_RESTRICTED = ErrorSpec(
        "group_posting_restricted", 403, _C, "messaging", _S1,
        "WhatsApp group/community settings prevent this device from posting",
        "Do not auto-retry. Check whether the chat is admin-only or comments are disabled.")
    GROUP_PREKEY_TIMEOUT = ErrorSpec(
        "group_prekey_timeout", 504, _T, "messaging", _S1,
        "Timeout while preparing encryption/prekeys for a large WhatsApp group",
        "Retry with backoff. This is usually temporary and should be treated as retryable.")
    CHAT_MISMATCH = ErrorSpec(
        "chat_mismatch", 400, _C, "messaging", _GW, "The message exists but belongs to another chat",
        "Pass the chat the message belongs to, or omit the chat.")
    WAIT_TIMEOUT = ErrorSpec(
        "wait_timeout", 408, _T, "messaging", _GW, "No matching message arrived before the wait timed out",
        "Call wait_for_message again, possibly with a longer timeout.")
    WAIT_CANCELLED = ErrorSpec(
        "wait_cancelled", 409, _T, "messaging", _GW, "The wait ended because the device disconnected",
        "Reconnect the device (authenticate tool if needed), then call wait_for_message again.")

    # --- media ------------------------------------------------------------------------------------
    MEDIA_RATE_LIMITED = ErrorSpec(
        "media_rate_limited", 429, _T, "media", _S0,
        "Media download limit exceeded (DOWNLOAD_RATE_LIMIT_PER_MIN, default 30/minute)",
        "Wait for the Retry-After delay (at most one minute), then retry.", retry_after_s=60)
    MEDIA_FILE_NOT_FOUND = ErrorSpec(
        "media_file_not_found", 404, _C, "media", _S0, "File path does not exist",
        "Verify the file path; ensure the file is in an allowed media directory.")
    MEDIA_PATH_TRAVERSAL = ErrorSpec(
        "media_path_traversal", 403, _C, "media", _S0, "Path outside the allowed directories",
        "Use an absolute path inside the gateway's configured media directories.")
    MEDIA_DANGEROUS_EXTENSION = ErrorSpec(
        "media_dangerous_extension", 403, _C, "media", _S0, "Blocked file extension (.exe, .bat, etc.)",
        "The extension is blocklisted for security; send the file in another format or archive.")
    MEDIA_MAGIC_MISMATCH = ErrorSpec(
        "media_magic_mismatch", 400, _C, "media", _S0, "File content does not match its declared type",
        "Verify the file is a valid image/video/audio/document and the declared MIME type matches.")
    MEDIA_QUOTA_EXCEEDED = ErrorSpec(
        "media_quota_exceeded", 413, _C, "media", _S0, "Media storage quota exceeded (default 512 MB)",
        "Delete old media (cleanup), or ask the administrator for a larger quota.")
    MEDIA_UPLOAD_FAILED = ErrorSpec(
        "media_upload_failed", 500, _T, "media", _S0, "WhatsApp media upload failed",
        "Already retried once automatically; check the file size (< 64 MB), then retry.")
    MEDIA_DOWNLOAD_FAILED = ErrorSpec(
        "media_download_failed", 500, _T, "media", _S0, "WhatsApp media download failed",
        "Retried automatically; if it keeps failing the media may have expired on WhatsApp's "
        "servers: ask the sender to resend.")
    MEDIA_TOO_LARGE = ErrorSpec(
        "media_too_large", 413, _C, "media", _S0, "File exceeds the 64 MB limit",
        "Compress the file; WhatsApp has a hard limit.")
    NO_MEDIA = ErrorSpec(
        "no_media", 404, _C, "media", _GW, "The message has no media",
        "Check the message ID; only image, video, audio, document and sticker messages have media.")
    MEDIA_EXPIRED = ErrorSpec(
        "media_expired", 410, _C, "media", _GW,
        "WhatsApp no longer holds this media (it is dropped after ~30 days)",
        "Ask the sender to resend the file.")
    MEDIA_URL_FORBIDDEN = ErrorSpec(
        "media_url_forbidden", 400, _C, "media", _GW,
        "Media URL resolves to a private, loopback or link-local address (SSRF guard)",
        "Use a publicly reachable http(s) URL, or send the media as base64.")
    MEDIA_FETCH_FAILED = ErrorSpec(
        "media_fetch_failed", 502, _T, "media", _GW, "Fetching the media URL failed",
        "Check that the URL is reachable and returns the file, then retry; or send the media as base64.")

    # --- search -----------------------------------------------------------------------------------
    SEARCH_QUERY_TOO_LONG = ErrorSpec(
        "search_query_too_long", 413, _C, "search", _S0, "Search query exceeds 200 characters",
        "Shorten the search query.")
    # Seed 000 lists this with category "N/A" and status 204. It is informational only: an empty
    # result is a success (an empty list) and this code is never raised.
    SEARCH_NO_RESULTS = ErrorSpec(
        "search_no_results", 204, _C, "search", _S0, "No messages match the query",
        "Informational, never raised: empty results are a success. Try different keywords; check spelling.")
    SEARCH_FTS_UNAVAILABLE = ErrorSpec(
        "search_fts_unavailable", 503, _T, "search", _S0, "Full-text search index unavailable or corrupted",
        "Retry shortly; the index is rebuilt automatically (simple substring search still works).",
        retry_after_s=30)

    # --- approvals --------------------------------------------------------------------------------
    APPROVAL_TIMEOUT = ErrorSpec(
        "approval_timeout", 408, _P, "approvals", _S0, "Approval request timed out",
        "Send a new approval request.")
    APPROVAL_RECIPIENT_NOT_FOUND = ErrorSpec(
        "approval_recipient_not_found", 404, _C, "approvals", _S0, "Cannot resolve the approval recipient",
        "Use an exact JID or phone number.")
    APPROVAL_ALREADY_RESPONDED = ErrorSpec(
        "approval_already_responded", 409, _C, "approvals", _S0, "Approval already has a response",
        "Check its status with check_approvals.")
    APPROVAL_INVALID_TIMEOUT = ErrorSpec(
        "approval_invalid_timeout", 400, _C, "approvals", _S0, "Timeout outside 10-3600 seconds",
        "Use a timeout between 10 and 3600 seconds.")

    # --- webhooks: deliveries to the apps' receivers -----------------------------------------------
    WEBHOOK_DELIVERY_FAILED = ErrorSpec(
        "webhook_delivery_failed", 502, _T, "webhooks", _GW,
        "The webhook receiver did not accept the event (non-2xx answer, refused or broken connection)",
        "Retried automatically (10 s, 30 s, 90 s, then exponentially for 24 h); make the receiver answer "
        "2xx once it has stored the event, then replay dead deliveries (POST /webhooks/deliveries/{id}/redeliver).")
    WEBHOOK_URL_FORBIDDEN = ErrorSpec(
        "webhook_url_forbidden", 400, _C, "webhooks", _GW,
        "Webhook URL resolves to a private, loopback or link-local address (SSRF guard)",
        "Use a publicly reachable receiver URL (or set ALLOW_PRIVATE_URLS on a trusted network), then "
        "replay the failed deliveries.")
    WEBHOOK_NOT_CONFIGURED = ErrorSpec(
        "webhook_not_configured", 409, _C, "webhooks", _GW,
        "The app has no usable webhook URL",
        "Set the app's webhook_url (an absolute http(s) URL, or a /path with WEBHOOK_BASE_URL set), then "
        "replay the deliveries.")
    # --- database ---------------------------------------------------------------------------------
    DB_LOCKED = ErrorSpec(
        "db_locked", 503, _T, "database", _S0, "Database is locked",
        "Retried automatically with backoff (WAL mode on SQLite); retry after about 1 second.",
        retry_after_s=1)
    DB_CORRUPT = ErrorSpec(
        "db_corrupt", 500, _P, "database", _S0, "Database file corrupted",
        "Restore from backup; contact the gateway administrator.")
    DB_DISK_FULL = ErrorSpec(
        "db_disk_full", 507, _T, "database", _S0, "No space left on device",
        "Free disk space or increase the volume size, then retry.")
    DB_MIGRATION_FAILED = ErrorSpec(
        "db_migration_failed", 500, _P, "database", _S0, "Schema migration error",
        "Restore from backup; check the logs of python manage.py migrate.")

    # --- permissions ------------------------------------------------------------------------------
    PERMISSION_TOOL_DISABLED = ErrorSpec(
        "permission_tool_disabled", 403, _C, "permissions", _S0, "Tool disabled via DISABLED_TOOLS",
        "Enable the tool in the configuration, or use an alternative tool.")
    PERMISSION_CONTACT_NOT_WHITELISTED = ErrorSpec(
        "permission_contact_not_whitelisted", 403, _C, "permissions", _S0,
        "Target not in ALLOWED_CONTACTS", "Add it to ALLOWED_CONTACTS, or contact the administrator.")
    PERMISSION_AUTH_THROTTLED = ErrorSpec(
        "permission_auth_throttled", 429, _T, "permissions", _S0, "Too many failed authentication attempts",
        "Wait for the backoff to expire (60 s doubling up to 900 s; see Retry-After), then retry.",
        retry_after_s=60)

    # --- access: REST authentication --------------------------------------------------------------
    INVALID_API_KEY = ErrorSpec(
        "invalid_api_key", 401, _C, "access", _S1, "Missing/invalid Authorization: Bearer header",
        "Send the app's Bearer token header on all device and message endpoints.")
    UNAUTHORIZED = ErrorSpec(
        "unauthorized", 401, _C, "access", _S1, "Bearer token missing/invalid for /apps endpoints",
        "Send a valid JWT with Authorization: Bearer <token> (manage.py issue_jwt).")
    FORBIDDEN = ErrorSpec(
        "forbidden", 403, _C, "access", _S1, "Access denied for the requested resource",
        "Confirm the app/tenant/device ownership.")
    INVALID_ROTATION_PIN = ErrorSpec(
        "invalid_rotation_pin", 401, _C, "access", _GW,
        "The manual app-token rotation PIN is missing or invalid",
        "Send the correct PIN in the X-Rotation-PIN header.")
    APP_TOKEN_ROTATION_DISABLED = ErrorSpec(
        "app_token_rotation_disabled", 403, _C, "access", _GW,
        "App token rotation PIN is not configured for the current runtime",
        "Configure a rotation PIN on the gateway, or rotate the token with the /apps JWT instead.")

    # --- api: request handling --------------------------------------------------------------------
    VALIDATION_ERROR = ErrorSpec(
        "validation_error", 400, _C, "api", _S1, "Payload failed validation",
        "Fix the indicated field; see details.field when present.")
    NOT_FOUND = ErrorSpec(
        "not_found", 404, _C, "api", _S1, "Resource does not exist for the tenant/app",
        "Re-check IDs via the list endpoints before calling the action.")
    CONFLICT = ErrorSpec(
        "conflict", 409, _C, "api", _S1, "Resource already exists",
        "Use a unique name/code or delete the old entry first.")
    IDEMPOTENCY_KEY_REUSED = ErrorSpec(
        "idempotency_key_reused", 409, _C, "api", _GW,
        "Idempotency-Key already used with a different request body",
        "Use a new Idempotency-Key for a different request; reuse a key only to retry the identical "
        "request (keys are kept 24 h).")
    REQUEST_TOO_LARGE = ErrorSpec(
        "request_too_large", 413, _C, "api", _GW, "Request body exceeds the configured limit",
        "Reduce the body size, or send media by URL instead of base64.")
    RANGE_NOT_SATISFIABLE = ErrorSpec(
        "range_not_satisfiable", 416, _C, "api", _GW, "The requested byte range is outside the file",
        "Ask for bytes between 0 and size - 1 (see details.size), or omit the Range header.")
    METHOD_NOT_ALLOWED = ErrorSpec(
        "method_not_allowed", 405, _C, "api", _GW, "HTTP method not allowed for this endpoint",
        "Use a method the endpoint supports (see the Allow header).")
    UNKNOWN_TOOL = ErrorSpec(
        "unknown_tool", 400, _C, "api", _GW, "No tool has this name",
        "Check the name against tools/list; names are case-sensitive.")
    REQUEST_CANCELED = ErrorSpec(
        "request_canceled", 408, _T, "api", _S1, "Request was canceled before completion",
        "Retry the request if needed.")
    INTERNAL_ERROR = ErrorSpec(
        "internal_error", 500, _U, "api", _S1, "Unexpected server error",
        "Retry with backoff; contact support with the request_id if persistent.")
    SERVICE_UNAVAILABLE = ErrorSpec(
        "service_unavailable", 503, _T, "api", _GW,
        "A gateway dependency (database, broker or channel layer) is unavailable",
        "Retry after the Retry-After delay with backoff; GET /ready shows which dependency is down.",
        retry_after_s=10)
    # fmt: on

    # --- accessors --------------------------------------------------------------------------------
    @property
    def code(self) -> str:
        """UPPER name (seed 000 style); equal to the member name."""
        return self.name

    @property
    def api_code(self) -> str:
        """lower name (seed 001 / wa-server style), used in REST bodies."""
        return self.value.api_code

    @property
    def status(self) -> int:
        return self.value.status

    @property
    def category(self) -> Category:
        return self.value.category

    @property
    def family(self) -> str:
        return self.value.family

    @property
    def retryable(self) -> bool:
        """True exactly for transient codes (SEARCH_NO_RESULTS is client_error, hence False)."""
        return self.value.category is Category.TRANSIENT

    @property
    def message(self) -> str:
        return self.value.message

    @property
    def recovery(self) -> str:
        return self.value.recovery

    @property
    def retry_after_s(self) -> int | None:
        """Default ``Retry-After`` seconds; set for every 429 and 503 member."""
        return self.value.retry_after_s

    @property
    def sources(self) -> frozenset[str]:
        return self.value.sources

    @classmethod
    def lookup(cls, name: str) -> ErrorCode:
        """Return the member whose UPPER code or lower api_code is ``name`` (exact match)."""
        try:
            return _BY_NAME[name]
        except (KeyError, TypeError):
            raise KeyError(f"unknown error code: {name!r}") from None


def _build_index() -> dict[str, ErrorCode]:
    index: dict[str, ErrorCode] = {}
    for member in ErrorCode:
        for key in (member.code, member.api_code):
            other = index.setdefault(key, member)
            if other is not member:
                raise ValueError(f"error name {key!r} used by {other.code} and {member.code}")
    return index


_BY_NAME = _build_index()


class WhatsAppError(Exception):
    """An error carrying an :class:`ErrorCode`, rendered identically on every surface.

    ``retry_after_s`` is rounded up to whole seconds; when omitted, members with a default
    (every 429/503 member) use it. ``candidates`` (name, JID) pairs are listed for ambiguous
    recipients, as in seed 000's example.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        details: dict | None = None,
        retry_after_s: float | None = None,
        candidates: list[tuple[str, str]] | None = None,
        recovery: str | None = None,
    ) -> None:
        if not isinstance(code, ErrorCode):
            raise TypeError(f"code must be an ErrorCode, not {type(code).__name__}")
        self.code = code
        self.message = message or code.message
        self.recovery = recovery or code.recovery
        self.details: dict[str, Any] = dict(details or {})
        if candidates is not None:
            self.details["candidates"] = [{"name": name, "jid": jid} for name, jid in candidates]
        if retry_after_s is not None:
            self.retry_after_s: int | None = max(0, math.ceil(retry_after_s))
        else:
            self.retry_after_s = code.retry_after_s
        if self.retry_after_s is not None:
            self.details["retry_after_s"] = self.retry_after_s
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code.code}: {self.message}"

    def __repr__(self) -> str:
        return f"WhatsAppError({self.code.code}, {self.message!r})"

    def __reduce__(self) -> tuple:
        # The keyword-only constructor breaks Exception's default pickling (used by task queues).
        return (_restore_error, (type(self), self.__dict__.copy()))

    @property
    def status(self) -> int:
        return self.code.status

    def as_dict(self) -> dict[str, Any]:
        """The full error object (MCP structuredContent, webhooks, audit)."""
        return {
            "code": self.code.code,
            "api_code": self.code.api_code,
            "status": self.code.status,
            "category": str(self.code.category),
            "retryable": self.code.retryable,
            "message": self.message,
            "recovery": self.recovery,
            "details": dict(self.details),
        }

    def to_rest(self, request_id: str | None) -> dict[str, Any]:
        """wa-server envelope (code/message/details/request_id) plus compatible extra fields."""
        return {
            "error": {
                "code": self.code.api_code,
                "message": self.message,
                "details": dict(self.details),
                "name": self.code.code,
                "status": self.code.status,
                "category": str(self.code.category),
                "retryable": self.code.retryable,
                "recovery": self.recovery,
            },
            "request_id": request_id,
        }

    def rest_headers(self) -> dict[str, str]:
        if self.code.status in RETRY_AFTER_STATUSES and self.retry_after_s is not None:
            return {"Retry-After": str(self.retry_after_s)}
        return {}

    def mcp_text(self) -> str:
        lines = [f"{self.code.code} ({self.code.category}): {self.message}"]
        for candidate in self.details.get("candidates") or ():
            lines.append(f'  - "{candidate["name"]}" → {candidate["jid"]}')
        lines += ["", f"Recovery: {self.recovery}"]
        if self.retry_after_s is not None:
            lines.append(f"Retry after: {self.retry_after_s} s")
        return "\n".join(lines)

    def to_mcp(self) -> dict[str, Any]:
        """An MCP tool result with ``isError`` set."""
        return {
            "isError": True,
            "content": [{"type": "text", "text": self.mcp_text()}],
            "structuredContent": {"error": self.as_dict()},
        }


def _restore_error(cls: type[WhatsAppError], state: dict[str, Any]) -> WhatsAppError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error.message)
    return error
