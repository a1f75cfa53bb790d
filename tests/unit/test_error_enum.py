"""The error enum covers every code of both seeds, with the seeds' categories and statuses.

Imports ``whatsapp.errors`` only (no Django needed). The literal tables below are the contract; the
seed files in ``docs/seeds/`` are parsed too, so a code missing from the tables fails the suite.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from whatsapp.errors import Category, ErrorCode, WhatsAppError

SEEDS = Path(__file__).resolve().parents[2] / "docs" / "seeds"
SEED000 = SEEDS / "000_error_reference_mcp.txt"
SEED001 = SEEDS / "001_error_reference_wa_server.txt"

# Seed 000 (MCP server): every code, with the category ("N/A" kept verbatim) and status it gives.
SEED000_CODES: list[tuple[str, str, int]] = [
    ("AUTH_RATE_LIMITED", "transient", 429),
    ("AUTH_PAIRING_FAILED", "client_error", 400),
    ("AUTH_QR_EXPIRED", "transient", 408),
    ("AUTH_SESSION_EXPIRED", "permanent", 401),
    ("AUTH_DEVICE_REMOVED", "permanent", 410),
    ("AUTH_BANNED", "permanent", 403),
    ("AUTH_MULTIDEVICE_MISMATCH", "permanent", 409),
    ("CONNECTION_LOST", "transient", 503),
    ("CONNECTION_TIMEOUT", "transient", 504),
    ("CONNECTION_DNS_FAILED", "transient", 502),
    ("CONNECTION_TLS_FAILED", "transient", 500),
    ("HEALTH_CHECK_FAILED", "transient", 503),
    ("MESSAGE_RATE_LIMITED", "transient", 429),
    ("MESSAGE_TOO_LONG", "client_error", 413),
    ("MESSAGE_RECIPIENT_NOT_FOUND", "client_error", 404),
    ("MESSAGE_AMBIGUOUS_RECIPIENT", "client_error", 409),
    ("MESSAGE_CONTACT_BLOCKED", "client_error", 403),
    ("MESSAGE_SEND_FAILED", "transient", 500),
    ("MESSAGE_NOT_CONNECTED", "client_error", 400),
    ("MEDIA_RATE_LIMITED", "transient", 429),
    ("MEDIA_FILE_NOT_FOUND", "client_error", 404),
    ("MEDIA_PATH_TRAVERSAL", "client_error", 403),
    ("MEDIA_DANGEROUS_EXTENSION", "client_error", 403),
    ("MEDIA_MAGIC_MISMATCH", "client_error", 400),
    ("MEDIA_QUOTA_EXCEEDED", "client_error", 413),
    ("MEDIA_UPLOAD_FAILED", "transient", 500),
    ("MEDIA_DOWNLOAD_FAILED", "transient", 500),
    ("MEDIA_TOO_LARGE", "client_error", 413),
    ("SEARCH_QUERY_TOO_LONG", "client_error", 413),
    ("SEARCH_NO_RESULTS", "N/A", 204),
    ("SEARCH_FTS_UNAVAILABLE", "transient", 503),
    ("APPROVAL_TIMEOUT", "permanent", 408),
    ("APPROVAL_RECIPIENT_NOT_FOUND", "client_error", 404),
    ("APPROVAL_ALREADY_RESPONDED", "client_error", 409),
    ("APPROVAL_INVALID_TIMEOUT", "client_error", 400),
    ("DB_LOCKED", "transient", 503),
    ("DB_CORRUPT", "permanent", 500),
    ("DB_DISK_FULL", "transient", 507),
    ("DB_MIGRATION_FAILED", "permanent", 500),
    ("PERMISSION_TOOL_DISABLED", "client_error", 403),
    ("PERMISSION_CONTACT_NOT_WHITELISTED", "client_error", 403),
    ("PERMISSION_AUTH_THROTTLED", "transient", 429),
]

# Seed 001 (wa-server): every code with its status, and the member that carries it.
SEED001_CODES: list[tuple[str, int, str]] = [
    ("validation_error", 400, "VALIDATION_ERROR"),
    ("invalid_api_key", 401, "INVALID_API_KEY"),
    ("unauthorized", 401, "UNAUTHORIZED"),
    ("forbidden", 403, "FORBIDDEN"),
    ("group_posting_restricted", 403, "GROUP_POSTING_RESTRICTED"),
    ("not_found", 404, "NOT_FOUND"),
    ("conflict", 409, "CONFLICT"),
    ("device_not_connected", 409, "MESSAGE_NOT_CONNECTED"),
    ("qr_reset_not_allowed", 409, "QR_RESET_NOT_ALLOWED"),
    ("too_many_devices", 409, "TOO_MANY_DEVICES"),
    ("client_outdated", 409, "CLIENT_OUTDATED"),
    ("request_canceled", 408, "REQUEST_CANCELED"),
    ("logged_out", 409, "LOGGED_OUT"),
    ("device_destroyed", 410, "DEVICE_DESTROYED"),
    ("provider_rate_limit", 429, "PROVIDER_RATE_LIMITED"),
    ("internal_error", 500, "INTERNAL_ERROR"),
    ("provider_error", 502, "PROVIDER_ERROR"),
    ("whatsapp_connection_aborted", 503, "CONNECTION_ABORTED"),
    ("whatsapp_connection_lost", 503, "CONNECTION_LOST"),
    ("group_prekey_timeout", 504, "GROUP_PREKEY_TIMEOUT"),
    ("upstream_timeout", 504, "CONNECTION_TIMEOUT"),
]

# Conditions both seeds name: one member, seed 001's status wins.
MERGED = {
    "MESSAGE_NOT_CONNECTED": "device_not_connected",
    "CONNECTION_LOST": "whatsapp_connection_lost",
    "CONNECTION_TIMEOUT": "upstream_timeout",
}

# Categories chosen for seed-001-only codes (seed 001 gives none).
SEED001_CATEGORIES = {
    "VALIDATION_ERROR": Category.CLIENT_ERROR,
    "INVALID_API_KEY": Category.CLIENT_ERROR,
    "UNAUTHORIZED": Category.CLIENT_ERROR,
    "FORBIDDEN": Category.CLIENT_ERROR,
    "GROUP_POSTING_RESTRICTED": Category.CLIENT_ERROR,
    "NOT_FOUND": Category.CLIENT_ERROR,
    "CONFLICT": Category.CLIENT_ERROR,
    "QR_RESET_NOT_ALLOWED": Category.CLIENT_ERROR,
    "DEVICE_DESTROYED": Category.CLIENT_ERROR,
    "TOO_MANY_DEVICES": Category.PERMANENT,
    "CLIENT_OUTDATED": Category.PERMANENT,
    "LOGGED_OUT": Category.PERMANENT,
    "REQUEST_CANCELED": Category.TRANSIENT,
    "PROVIDER_RATE_LIMITED": Category.TRANSIENT,
    "PROVIDER_ERROR": Category.TRANSIENT,
    "CONNECTION_ABORTED": Category.TRANSIENT,
    "GROUP_PREKEY_TIMEOUT": Category.TRANSIENT,
    "INTERNAL_ERROR": Category.UNKNOWN,
}

# The gateway's own members: (code, api_code, status, category).
GATEWAY_CODES: list[tuple[str, str, int, Category]] = [
    ("UNKNOWN_TOOL", "unknown_tool", 400, Category.CLIENT_ERROR),
    ("CHAT_MISMATCH", "chat_mismatch", 400, Category.CLIENT_ERROR),
    ("NO_MEDIA", "no_media", 404, Category.CLIENT_ERROR),
    ("MEDIA_EXPIRED", "media_expired", 410, Category.CLIENT_ERROR),
    ("WAIT_TIMEOUT", "wait_timeout", 408, Category.TRANSIENT),
    ("WAIT_CANCELLED", "wait_cancelled", 409, Category.TRANSIENT),
    ("WHATSAPP_ERROR", "whatsapp_error", 502, Category.UNKNOWN),
    ("IDEMPOTENCY_KEY_REUSED", "idempotency_key_reused", 409, Category.CLIENT_ERROR),
    ("REQUEST_TOO_LARGE", "request_too_large", 413, Category.CLIENT_ERROR),
    ("RANGE_NOT_SATISFIABLE", "range_not_satisfiable", 416, Category.CLIENT_ERROR),
    ("WEBHOOK_DELIVERY_FAILED", "webhook_delivery_failed", 502, Category.TRANSIENT),
    ("WEBHOOK_URL_FORBIDDEN", "webhook_url_forbidden", 400, Category.CLIENT_ERROR),
    ("WEBHOOK_NOT_CONFIGURED", "webhook_not_configured", 409, Category.CLIENT_ERROR),
    ("METHOD_NOT_ALLOWED", "method_not_allowed", 405, Category.CLIENT_ERROR),
    ("MEDIA_URL_FORBIDDEN", "media_url_forbidden", 400, Category.CLIENT_ERROR),
    ("MEDIA_FETCH_FAILED", "media_fetch_failed", 502, Category.TRANSIENT),
    ("AUTH_TEMPORARILY_BANNED", "auth_temporarily_banned", 403, Category.TRANSIENT),
    ("SESSION_REPLACED", "session_replaced", 409, Category.PERMANENT),
    ("INVALID_ROTATION_PIN", "invalid_rotation_pin", 401, Category.CLIENT_ERROR),
    ("APP_TOKEN_ROTATION_DISABLED", "app_token_rotation_disabled", 403, Category.CLIENT_ERROR),
    ("SERVICE_UNAVAILABLE", "service_unavailable", 503, Category.TRANSIENT),
]

SEED000_LINE = re.compile(r"^([A-Z_]+) (transient|permanent|client_error|N/A) (\d{3}) ")
SEED001_ROW = re.compile(r"^(\d{3})([a-z_]+)")


def parse_seed000() -> set[tuple[str, str, int]]:
    rows = set()
    for line in SEED000.read_text(encoding="utf-8").splitlines():
        if match := SEED000_LINE.match(line):
            rows.add((match[1], match[2], int(match[3])))
    return rows


def parse_seed001() -> set[tuple[str, int]]:
    rows = set()
    for line in SEED001.read_text(encoding="utf-8").splitlines():
        if match := SEED001_ROW.match(line):
            rows.add((match[2], int(match[1])))
    return rows


# --- the literal tables cover the seeds ------------------------------------------------------------


def test_seed000_table_matches_the_seed_file() -> None:
    parsed = parse_seed000()
    assert len(parsed) == 42
    assert parsed == set(SEED000_CODES)


def test_seed001_table_matches_the_seed_file() -> None:
    parsed = parse_seed001()
    assert len(parsed) == 21
    assert parsed == {(api, status) for api, status, _ in SEED001_CODES}


def test_tables_have_no_duplicates() -> None:
    assert len({row[0] for row in SEED000_CODES}) == len(SEED000_CODES)
    assert len({row[0] for row in SEED001_CODES}) == len(SEED001_CODES)


# --- each seed code against the enum ---------------------------------------------------------------


@pytest.mark.parametrize(("code", "category", "status"), SEED000_CODES, ids=[r[0] for r in SEED000_CODES])
def test_seed000_code(code: str, category: str, status: int) -> None:
    member = ErrorCode[code]
    assert member.code == code
    assert ErrorCode.lookup(code) is member
    assert "seed000" in member.sources
    if code == "SEARCH_NO_RESULTS":
        # Seed 000 says "N/A": informational, never raised. Kept as a non-retryable client_error.
        assert category == "N/A"
        assert member.category is Category.CLIENT_ERROR
        assert member.retryable is False
        assert "never raised" in member.recovery
    else:
        assert member.category == Category(category)
    if code in MERGED:
        seed001_status = {api: st for api, st, _ in SEED001_CODES}[MERGED[code]]
        assert member.api_code == MERGED[code]
        assert member.status == seed001_status
    else:
        assert member.status == status
        if code != "MESSAGE_RATE_LIMITED":
            assert member.api_code == code.lower()


@pytest.mark.parametrize(("api_code", "status", "code"), SEED001_CODES, ids=[r[0] for r in SEED001_CODES])
def test_seed001_code(api_code: str, status: int, code: str) -> None:
    member = ErrorCode.lookup(api_code)
    assert member is ErrorCode[code]
    assert member.api_code == api_code
    assert member.status == status
    assert "seed001" in member.sources
    if code in SEED001_CATEGORIES:
        assert member.category is SEED001_CATEGORIES[code]


def test_merged_members_carry_both_names() -> None:
    assert ErrorCode.MESSAGE_NOT_CONNECTED.status == 409  # seed 000 said 400; seed 001 wins
    assert ErrorCode.MESSAGE_NOT_CONNECTED.category is Category.CLIENT_ERROR
    for code, api_code in MERGED.items():
        assert ErrorCode.lookup(code) is ErrorCode.lookup(api_code)
        assert ErrorCode[code].sources == {"seed000", "seed001"}
    limiter = ErrorCode.lookup("rate_limit_exceeded")
    assert limiter is ErrorCode.MESSAGE_RATE_LIMITED
    assert (limiter.status, limiter.category) == (429, Category.TRANSIENT)


def test_contact_blocked_and_not_whitelisted_stay_separate() -> None:
    assert ErrorCode.MESSAGE_CONTACT_BLOCKED is not ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED


@pytest.mark.parametrize(
    ("code", "api_code", "status", "category"), GATEWAY_CODES, ids=[r[0] for r in GATEWAY_CODES]
)
def test_gateway_code(code: str, api_code: str, status: int, category: Category) -> None:
    member = ErrorCode[code]
    assert (member.api_code, member.status, member.category) == (api_code, status, category)
    assert member.sources == {"gateway"}


def test_every_member_is_accounted_for() -> None:
    expected = (
        {code for code, _, _ in SEED000_CODES}
        | {code for _, _, code in SEED001_CODES}
        | {code for code, *_ in GATEWAY_CODES}
    )
    assert {member.code for member in ErrorCode} == expected
    assert len(ErrorCode) == 81


# --- invariants --------------------------------------------------------------------------------------


def test_codes_and_api_codes_are_unique() -> None:
    codes = [m.code for m in ErrorCode]
    api_codes = [m.api_code for m in ErrorCode]
    assert len(set(codes)) == len(codes)
    assert len(set(api_codes)) == len(api_codes)
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", c) for c in codes)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", c) for c in api_codes)


@pytest.mark.parametrize("member", list(ErrorCode), ids=lambda m: m.code)
def test_member_is_complete(member: ErrorCode) -> None:
    assert member.message.strip()
    assert member.recovery.strip()
    assert isinstance(member.category, Category)
    assert member.sources
    assert member.sources <= {"seed000", "seed001", "gateway"}
    assert member.retryable is (member.category is Category.TRANSIENT)
    if member.status in (429, 503):
        assert isinstance(member.retry_after_s, int)
        assert member.retry_after_s > 0


def test_retry_after_defaults() -> None:
    assert ErrorCode.DB_LOCKED.retry_after_s == 1
    assert ErrorCode.MESSAGE_RATE_LIMITED.retry_after_s == 60
    assert ErrorCode.CONNECTION_LOST.retry_after_s == 5
    assert WhatsAppError(ErrorCode.SERVICE_UNAVAILABLE).rest_headers() == {
        "Retry-After": str(ErrorCode.SERVICE_UNAVAILABLE.retry_after_s)
    }


def test_lookup() -> None:
    assert ErrorCode.lookup("MESSAGE_TOO_LONG") is ErrorCode.MESSAGE_TOO_LONG
    assert ErrorCode.lookup("message_too_long") is ErrorCode.MESSAGE_TOO_LONG
    assert ErrorCode.lookup("provider_rate_limit") is ErrorCode.PROVIDER_RATE_LIMITED
    assert ErrorCode.lookup("PROVIDER_RATE_LIMITED") is ErrorCode.PROVIDER_RATE_LIMITED
    for bad in ("", "nope", "Message_Too_Long", "message_not_connected", "DEVICE_NOT_CONNECTED"):
        with pytest.raises(KeyError):
            ErrorCode.lookup(bad)
