"""WhatsAppError renders the same error as a REST envelope, REST headers and an MCP tool result."""

from __future__ import annotations

import json
import pickle

import pytest

from whatsapp.errors import ErrorCode, WhatsAppError

JOHNS = [("John Smith", "15145551234@s.whatsapp.net"), ("John Doe", "353871234567@s.whatsapp.net")]


def test_defaults_come_from_the_member() -> None:
    error = WhatsAppError(ErrorCode.MESSAGE_TOO_LONG)
    assert error.code is ErrorCode.MESSAGE_TOO_LONG
    assert error.message == ErrorCode.MESSAGE_TOO_LONG.message
    assert error.recovery == ErrorCode.MESSAGE_TOO_LONG.recovery
    assert error.details == {}
    assert error.retry_after_s is None
    assert error.status == 413
    assert str(error) == "MESSAGE_TOO_LONG: Message exceeds 4096 characters"


def test_details_are_copied_not_shared() -> None:
    given = {"field": "text"}
    error = WhatsAppError(ErrorCode.VALIDATION_ERROR, "text is required", details=given)
    error.details["extra"] = 1
    assert given == {"field": "text"}


def test_rest_envelope_is_wa_server_compatible() -> None:
    error = WhatsAppError(ErrorCode.VALIDATION_ERROR, "jid is not a valid JID", details={"field": "jid"})
    body = error.to_rest("req-123")
    assert set(body) == {"error", "request_id"}
    assert body["request_id"] == "req-123"
    assert body["error"] == {
        "code": "validation_error",
        "message": "jid is not a valid JID",
        "details": {"field": "jid"},
        "name": "VALIDATION_ERROR",
        "status": 400,
        "category": "client_error",
        "retryable": False,
        "recovery": ErrorCode.VALIDATION_ERROR.recovery,
    }
    json.dumps(body)  # serialisable as is
    assert error.rest_headers() == {}


def test_rest_envelope_without_request_id() -> None:
    body = WhatsAppError(ErrorCode.NOT_FOUND).to_rest(None)
    assert body["request_id"] is None
    assert body["error"]["code"] == "not_found"
    assert body["error"]["details"] == {}


def test_merged_member_uses_the_wa_server_name_on_rest() -> None:
    error = WhatsAppError(ErrorCode.MESSAGE_NOT_CONNECTED)
    assert error.status == 409
    assert error.to_rest("r")["error"]["code"] == "device_not_connected"
    assert error.to_mcp()["structuredContent"]["error"]["code"] == "MESSAGE_NOT_CONNECTED"


@pytest.mark.parametrize(
    ("given", "expected"), [(0.2, 1), (1, 1), (1.0, 1), (59.01, 60), (60, 60), (0, 0), (-3.5, 0)]
)
def test_retry_after_is_rounded_up(given: float, expected: int) -> None:
    error = WhatsAppError(ErrorCode.MESSAGE_RATE_LIMITED, retry_after_s=given)
    assert error.retry_after_s == expected
    assert isinstance(error.retry_after_s, int)
    assert error.details["retry_after_s"] == expected
    assert error.rest_headers() == {"Retry-After": str(expected)}


def test_retry_after_defaults_for_429_and_503() -> None:
    for member in (ErrorCode.MESSAGE_RATE_LIMITED, ErrorCode.DB_LOCKED, ErrorCode.PROVIDER_RATE_LIMITED):
        error = WhatsAppError(member)
        assert error.retry_after_s == member.retry_after_s
        assert error.details["retry_after_s"] == member.retry_after_s
        assert error.rest_headers() == {"Retry-After": str(member.retry_after_s)}


def test_retry_after_on_other_statuses_goes_to_details_only() -> None:
    error = WhatsAppError(ErrorCode.AUTH_TEMPORARILY_BANNED, retry_after_s=3600)
    assert error.details["retry_after_s"] == 3600
    assert error.rest_headers() == {}
    assert WhatsAppError(ErrorCode.AUTH_TEMPORARILY_BANNED).retry_after_s is None


def test_mcp_result_for_ambiguous_recipient() -> None:
    error = WhatsAppError(
        ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, "Multiple contacts match 'John'", candidates=JOHNS
    )
    result = error.to_mcp()
    assert result["isError"] is True
    assert len(result["content"]) == 1
    assert result["content"][0]["type"] == "text"
    text = result["content"][0]["text"]
    assert text == (
        "MESSAGE_AMBIGUOUS_RECIPIENT (client_error): Multiple contacts match 'John'\n"
        '  - "John Smith" → 15145551234@s.whatsapp.net\n'
        '  - "John Doe" → 353871234567@s.whatsapp.net\n'
        "\n"
        f"Recovery: {ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT.recovery}"
    )
    assert error.details["candidates"] == [
        {"name": "John Smith", "jid": "15145551234@s.whatsapp.net"},
        {"name": "John Doe", "jid": "353871234567@s.whatsapp.net"},
    ]
    structured = result["structuredContent"]["error"]
    assert structured == {
        "code": "MESSAGE_AMBIGUOUS_RECIPIENT",
        "api_code": "message_ambiguous_recipient",
        "status": 409,
        "category": "client_error",
        "retryable": False,
        "message": "Multiple contacts match 'John'",
        "recovery": ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT.recovery,
        "details": {"candidates": error.details["candidates"]},
    }
    assert error.to_rest("r")["error"]["details"] == structured["details"]
    json.dumps(result)


def test_mcp_text_with_retry_after_and_custom_recovery() -> None:
    error = WhatsAppError(
        ErrorCode.PERMISSION_AUTH_THROTTLED,
        "Cooling down after 2 failures",
        retry_after_s=119.2,
        recovery="Wait 120 s before calling authenticate again.",
    )
    text = error.to_mcp()["content"][0]["text"]
    assert text.startswith("PERMISSION_AUTH_THROTTLED (transient): Cooling down after 2 failures\n")
    assert text.endswith("\n\nRecovery: Wait 120 s before calling authenticate again.\nRetry after: 120 s")
    structured = error.to_mcp()["structuredContent"]["error"]
    assert structured["retryable"] is True
    assert structured["details"] == {"retry_after_s": 120}
    assert structured["recovery"] == "Wait 120 s before calling authenticate again."


def test_mcp_text_without_candidates_or_retry() -> None:
    text = WhatsAppError(ErrorCode.PERMISSION_TOOL_DISABLED).to_mcp()["content"][0]["text"]
    assert text == (
        "PERMISSION_TOOL_DISABLED (client_error): Tool disabled via DISABLED_TOOLS\n\n"
        f"Recovery: {ErrorCode.PERMISSION_TOOL_DISABLED.recovery}"
    )


def test_is_an_exception_and_pickles() -> None:
    error = WhatsAppError(ErrorCode.DB_LOCKED, "locked", details={"table": "messages"}, retry_after_s=2.5)
    with pytest.raises(WhatsAppError) as caught:
        raise error
    assert caught.value is error
    clone = pickle.loads(pickle.dumps(error))
    assert clone.code is ErrorCode.DB_LOCKED
    assert (clone.message, clone.details, clone.retry_after_s) == ("locked", error.details, 3)
    assert clone.to_rest("x") == error.to_rest("x")


def test_rejects_non_member_codes() -> None:
    with pytest.raises(TypeError):
        WhatsAppError("MESSAGE_TOO_LONG")  # type: ignore[arg-type]
