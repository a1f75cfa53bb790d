"""Classification of neonize exceptions and whatsmeow reason codes (whatsapp/engine/neonize_errors.py).

Real ``neonize.exc`` classes carrying the Go strings whatsmeow produces (reference/whatsapp-behaviour.md
§3, §4.3, §6, §8; neonize-notes §1.1, §3), and the real ``ConnectFailureReason``/``TempBanReason``
enum values of ``Neonize_pb2``.
"""

from __future__ import annotations

import pytest
from conftest import N
from neonize import exc

from whatsapp.engine.base import ConnectionLost, LoggedOut, TemporarilyBanned
from whatsapp.engine.neonize_errors import (
    classify,
    classify_text,
    connect_failure_event,
    disconnect_event,
    logged_out_event,
    parse_go_error,
    temporary_ban_event,
)
from whatsapp.errors import ErrorCode, WhatsAppError

DNS = ('failed to dial whatsapp web websocket: failed to WebSocket dial: failed to send handshake request: '
       'Get "https://web.whatsapp.com/ws/chat": dial tcp: lookup web.whatsapp.com on 10.255.255.53:53: no such host')
R = N.ConnectFailureReason

CASES = [
    # (exception, group send?, expected member) — one per rule of the module's table
    (exc.NeonizeError(DNS), False, ErrorCode.CONNECTION_DNS_FAILED),
    (exc.NeonizeError('failed to dial whatsapp web websocket: failed to WebSocket dial: failed to send handshake '
                      'request: Get "https://web.whatsapp.com/ws/chat": dial tcp: lookup web.whatsapp.com : no such '
                      'host'), False, ErrorCode.CONNECTION_DNS_FAILED),  # the notes' spelling (no resolver)
    (exc.NeonizeError("failed to dial whatsapp web websocket: failed to WebSocket dial: failed to send handshake "
                      "request: Get \"https://web.whatsapp.com/ws/chat\": dial tcp: lookup web.whatsapp.com on "
                      "10.0.0.1:53: dial udp 10.0.0.1:53: connect: network is unreachable"), False,
     ErrorCode.CONNECTION_DNS_FAILED),
    (exc.NeonizeError("failed to dial whatsapp web websocket: failed to WebSocket dial: failed to send handshake "
                      "request: Get \"https://web.whatsapp.com/ws/chat\": tls: failed to verify certificate: x509: "
                      "certificate signed by unknown authority"), False, ErrorCode.CONNECTION_TLS_FAILED),
    (exc.NeonizeError("failed to dial whatsapp web websocket: failed to WebSocket dial: failed to send handshake "
                      "request: Get \"https://web.whatsapp.com/ws/chat\": context deadline exceeded"), False,
     ErrorCode.CONNECTION_TIMEOUT),
    (exc.NeonizeError("failed to dial whatsapp web websocket: failed to WebSocket dial: failed to send handshake "
                      "request: socks connect tcp 127.0.0.1:1->web.whatsapp.com:443: dial tcp 127.0.0.1:1: connect: "
                      "connection refused"), False, ErrorCode.CONNECTION_LOST),
    (exc.NeonizeError("failed to upgrade database: failed to check if version table is up to date: dial tcp "
                      "127.0.0.1:1: connect: connection refused"), False, ErrorCode.SERVICE_UNAVAILABLE),
    (exc.NeonizeError('failed to upgrade database: pq: database "does_not_exist" does not exist (3D000)'), False,
     ErrorCode.SERVICE_UNAVAILABLE),
    (exc.NeonizeError("failed to upgrade database: failed to check if foreign keys are enabled: unable to open "
                      "database file: no such file or directory"), False, ErrorCode.SERVICE_UNAVAILABLE),
    (exc.NeonizeError("failed to upgrade database: database is locked"), False, ErrorCode.DB_LOCKED),
    (exc.NeonizeError("failed to upgrade database: file is not a database"), False, ErrorCode.DB_CORRUPT),
    (exc.NeonizeError("failed to upgrade database: failed to upgrade to v7: no space left on device"), False,
     ErrorCode.DB_DISK_FULL),
    (exc.NeonizeError("failed to upgrade database: failed to upgrade to v9: duplicate column"), False,
     ErrorCode.DB_MIGRATION_FAILED),
    # sends: ack codes (§4.3)
    (exc.SendMessageError("server returned error 479"), False, ErrorCode.MESSAGE_SEND_FAILED),
    (exc.SendMessageError("server returned error 479"), True, ErrorCode.MESSAGE_SEND_FAILED),
    (exc.SendMessageError("server returned error 463"), False, ErrorCode.PROVIDER_RATE_LIMITED),
    (exc.SendMessageError("server returned error 429"), False, ErrorCode.PROVIDER_RATE_LIMITED),
    (exc.SendMessageError("server returned error 405"), False, ErrorCode.CLIENT_OUTDATED),
    (exc.SendMessageError("server returned error 406"), True, ErrorCode.GROUP_POSTING_RESTRICTED),
    (exc.SendMessageError("server returned error 406"), False, ErrorCode.MESSAGE_SEND_FAILED),
    (exc.SendMessageError("server returned error 421"), False, ErrorCode.MESSAGE_SEND_FAILED),
    # sends: IQ errors, timeouts, connection
    (exc.SendMessageError("failed to get group members: info query returned status 429: rate-overlimit"), True,
     ErrorCode.PROVIDER_RATE_LIMITED),
    (exc.SendMessageError("failed to get group members: info query returned status 406: not-acceptable"), True,
     ErrorCode.GROUP_POSTING_RESTRICTED),
    (exc.SendMessageError("failed to get group members: info query returned status 403: forbidden"), True,
     ErrorCode.GROUP_POSTING_RESTRICTED),
    (exc.SendMessageError("failed to get group members: you're not participating in that group"), True,
     ErrorCode.GROUP_POSTING_RESTRICTED),
    (exc.SendMessageError("failed to get group members: info query timed out"), True, ErrorCode.GROUP_PREKEY_TIMEOUT),
    (exc.SendMessageError("failed to get group members: context deadline exceeded"), True,
     ErrorCode.GROUP_PREKEY_TIMEOUT),
    (exc.SendMessageError("timed out waiting for message send response"), True, ErrorCode.CONNECTION_TIMEOUT),
    (exc.SendMessageError("timed out waiting for message send response"), False, ErrorCode.CONNECTION_TIMEOUT),
    (exc.SendMessageError("failed to get user info for 15551234567@s.whatsapp.net to fill LID cache: info query "
                          "timed out"), False, ErrorCode.CONNECTION_TIMEOUT),
    (exc.SendMessageError("no LID found for 15551234567@s.whatsapp.net from server"), False,
     ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND),
    (exc.SendMessageError("info query returned status 404: item-not-found"), False,
     ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND),
    (exc.SendMessageError("can't send message to unknown server broadcast"), False,
     ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND),
    (exc.SendMessageError("websocket not connected"), False, ErrorCode.MESSAGE_NOT_CONNECTED),
    (exc.SendMessageError("the store doesn't contain a device JID"), False, ErrorCode.MESSAGE_NOT_CONNECTED),
    (exc.SendMessageError("client is nil"), False, ErrorCode.MESSAGE_NOT_CONNECTED),
    (exc.SendMessageError("websocket disconnected before message send returned response"), False,
     ErrorCode.CONNECTION_ABORTED),
    (exc.SendMessageError("failed to send message node: write: broken pipe"), False, ErrorCode.CONNECTION_LOST),
    (exc.SendMessageError("context canceled"), False, ErrorCode.REQUEST_CANCELED),
    (exc.SendMessageError("something whatsmeow never said before"), False, ErrorCode.MESSAGE_SEND_FAILED),
    # media (§6)
    (exc.DownloadError("download failed with status code 410"), False, ErrorCode.MEDIA_EXPIRED),
    (exc.DownloadError("download failed with status code 404"), False, ErrorCode.MEDIA_EXPIRED),
    (exc.DownloadError("download failed with status code 403"), False, ErrorCode.MEDIA_EXPIRED),
    (exc.DownloadError("download failed with status code 429"), False, ErrorCode.MEDIA_RATE_LIMITED),
    (exc.DownloadError("download failed with status code 502"), False, ErrorCode.MEDIA_DOWNLOAD_FAILED),
    (exc.DownloadError("invalid media hmac"), False, ErrorCode.MEDIA_DOWNLOAD_FAILED),
    (exc.DownloadError("no url present"), False, ErrorCode.NO_MEDIA),
    (exc.DownloadError("weird"), False, ErrorCode.MEDIA_DOWNLOAD_FAILED),
    (exc.UploadError("upload failed with status code 413"), False, ErrorCode.MEDIA_TOO_LARGE),
    (exc.UploadError("upload failed with status code 429"), False, ErrorCode.MEDIA_RATE_LIMITED),
    (exc.UploadError("upload failed with status code 500"), False, ErrorCode.MEDIA_UPLOAD_FAILED),
    (exc.UploadError("failed to refresh media connections: info query timed out"), False,
     ErrorCode.CONNECTION_TIMEOUT),
    # pairing (§1.3)
    (exc.PairPhoneError("phone number too short"), False, ErrorCode.AUTH_PAIRING_FAILED),
    (exc.PairPhoneError("international phone number required (must not start with 0)"), False,
     ErrorCode.AUTH_PAIRING_FAILED),
    (exc.PairPhoneError("info query returned status 400: bad-request"), False, ErrorCode.AUTH_PAIRING_FAILED),
    (exc.PairPhoneError("info query returned status 429: rate-overlimit"), False, ErrorCode.PROVIDER_RATE_LIMITED),
    (exc.PairPhoneError("client is nil: ensure client is connected before calling PairPhone, or pass pairphone to "
                        "connect()"), False, ErrorCode.MESSAGE_NOT_CONNECTED),
    # groups and queries (§8)
    (exc.GetGroupInfoError("that group does not exist"), False, ErrorCode.NOT_FOUND),
    (exc.GetGroupInfoError("you're not participating in that group"), False, ErrorCode.FORBIDDEN),
    (exc.InviteLinkError("that group invite link has been revoked"), False, ErrorCode.NOT_FOUND),
    (exc.InviteLinkError("that group invite link is not valid"), False, ErrorCode.VALIDATION_ERROR),
    (exc.CreateGroupError("info query returned status 406: not-acceptable"), False, ErrorCode.VALIDATION_ERROR),
    (exc.SetGroupNameError("info query returned status 423: locked"), False, ErrorCode.FORBIDDEN),
    (exc.UpdateGroupParticipantsError("info query returned status 500: internal-server-error"), False,
     ErrorCode.PROVIDER_ERROR),
    (exc.IsOnWhatsAppError("info query returned status 503: service-unavailable"), False, ErrorCode.PROVIDER_ERROR),
    (exc.IsOnWhatsAppError("info query returned status 408: "), False, ErrorCode.CONNECTION_TIMEOUT),
    (exc.GetUserInfoError("unusual"), False, ErrorCode.PROVIDER_ERROR),
    (exc.LogoutError("unusual"), False, ErrorCode.WHATSAPP_ERROR),
    (RuntimeError("not from neonize"), False, ErrorCode.WHATSAPP_ERROR),
]


@pytest.mark.parametrize(("error", "group", "expected"), CASES, ids=lambda v: getattr(v, "name", None))
def test_classify_by_type_and_code(error: Exception, group: bool, expected: ErrorCode) -> None:
    result = classify(error, group=group)
    assert isinstance(result, WhatsAppError)
    assert result.code is expected, str(error)
    assert result.details["whatsapp_error"] == str(error)
    assert result.details["exception"] == type(error).__name__


def test_not_connected_means_the_link_is_down_for_connect_and_probe() -> None:
    assert classify(exc.NeonizeError("websocket not connected")).code is ErrorCode.CONNECTION_LOST
    assert classify(exc.GetUserInfoError("websocket not connected"), op="probe").code is ErrorCode.CONNECTION_LOST
    assert classify(exc.GetUserInfoError("websocket not connected")).code is ErrorCode.MESSAGE_NOT_CONNECTED


def test_codes_are_in_the_details_and_the_message_names_the_ack() -> None:
    error = classify(exc.SendMessageError("server returned error 463"))
    assert error.details["ack_code"] == 463
    assert "463" in error.message
    assert "time-locked" in error.message
    iq = classify(exc.SendMessageError("failed to get group members: info query returned status 429: rate-overlimit"),
                  group=True)
    assert (iq.details["iq_code"], iq.details["iq_text"]) == (429, "rate-overlimit")
    assert iq.retry_after_s == 60  # the member's Retry-After default
    assert classify(exc.DownloadError("download failed with status code 410")).details["download_status"] == 410


def test_profile_picture_error_carries_the_whole_return_model() -> None:
    """neonize 0.5.2 raises ``GetProfilePictureError(model)``; the Go string is ``model.Error``."""
    model = N.GetProfilePictureReturnFunction(Error="info query returned status 401: not-authorized")
    error = classify(exc.GetProfilePictureError(model))
    assert error.code is ErrorCode.FORBIDDEN
    assert error.details["whatsapp_error"] == "info query returned status 401: not-authorized"


def test_an_existing_whatsapp_error_passes_through() -> None:
    original = WhatsAppError(ErrorCode.VALIDATION_ERROR)
    assert classify(original) is original


def test_parse_go_error_extracts_the_structured_parts() -> None:
    facts = parse_go_error("failed to get group members: info query returned status 406: not-acceptable")
    assert (facts.iq_code, facts.iq_text, facts.ack_code) == (406, "not-acceptable", None)
    assert parse_go_error("server returned error 479").ack_code == 479
    assert "dns" in parse_go_error(DNS).kinds
    assert parse_go_error("websocket not connected").kinds == {"not_connected"}
    assert parse_go_error("upload failed with status code 413").upload_status == 413


def test_free_text_that_merely_mentions_a_word_is_not_a_code() -> None:
    """Only whatsmeow's structured fragments count: prose mentioning 'timeout' or '429' does not."""
    code, _ = classify_text("the user typed timeout 429 rate limit in their status", op="send",
                            fallback=ErrorCode.MESSAGE_SEND_FAILED)
    assert code is ErrorCode.MESSAGE_SEND_FAILED


# --- reason codes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("reason", "on_connect", "expected_reason", "expected_error"), [
    (R.LOGGED_OUT, True, "revoked", ErrorCode.LOGGED_OUT),
    (R.LOGGED_OUT, False, "device_removed", ErrorCode.AUTH_DEVICE_REMOVED),
    (R.MAIN_DEVICE_GONE, True, "logged_out", ErrorCode.LOGGED_OUT),
    (R.MAIN_DEVICE_GONE, False, "logged_out", ErrorCode.LOGGED_OUT),
    (R.UNKNOWN_LOGOUT, True, "banned", ErrorCode.AUTH_BANNED),
    (R.GENERIC, True, "logged_out", ErrorCode.LOGGED_OUT),
    (None, True, "logged_out", ErrorCode.LOGGED_OUT),
])
def test_logged_out_reasons(reason: int | None, on_connect: bool, expected_reason: str,
                            expected_error: ErrorCode) -> None:
    event = logged_out_event(reason, on_connect=on_connect)
    assert (event.reason, event.error) == (expected_reason, expected_error)


@pytest.mark.parametrize(("reason", "expected"), [
    (R.LOGGED_OUT, LoggedOut(reason="revoked", error=ErrorCode.LOGGED_OUT, detail="whatsmeow reason 401 (at connect)")),
    (R.MAIN_DEVICE_GONE, LoggedOut(reason="logged_out", error=ErrorCode.LOGGED_OUT,
                                   detail="whatsmeow reason 403 (at connect)")),
    (R.UNKNOWN_LOGOUT, LoggedOut(reason="banned", error=ErrorCode.AUTH_BANNED,
                                 detail="whatsmeow reason 406 (at connect)")),
    (R.TEMP_BANNED, TemporarilyBanned(expires_in_s=None, reason="temp_banned")),
    (R.CLIENT_OUTDATED, LoggedOut(reason="client_outdated", error=ErrorCode.CLIENT_OUTDATED,
                                  detail="connect failure 405: bye")),
    (R.BAD_USER_AGENT, LoggedOut(reason="client_outdated", error=ErrorCode.CLIENT_OUTDATED,
                                 detail="connect failure 409: bye")),
    (R.INTERNAL_SERVER_ERROR, ConnectionLost(error=ErrorCode.PROVIDER_ERROR, detail="connect failure 500: bye")),
    (R.SERVICE_UNAVAILABLE, ConnectionLost(error=ErrorCode.PROVIDER_ERROR, detail="connect failure 503: bye")),
    (R.GENERIC, ConnectionLost(error=ErrorCode.PROVIDER_ERROR, detail="connect failure 400: bye")),
    (R.EXPERIMENTAL, ConnectionLost(error=ErrorCode.PROVIDER_ERROR, detail="connect failure 501: bye")),
    (None, ConnectionLost(error=ErrorCode.PROVIDER_ERROR, detail="connect failure unmapped: bye")),
])
def test_connect_failure_reasons(reason: int | None, expected: object) -> None:
    assert connect_failure_event(reason, "bye") == expected


@pytest.mark.parametrize(("code", "name"), [
    (N.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, "sent_to_too_many_people"),
    (N.TemporaryBan.BLOCKED_BY_USERS, "blocked_by_users"),
    (N.TemporaryBan.CREATED_TOO_MANY_GROUPS, "created_too_many_groups"),
    (N.TemporaryBan.SENT_TOO_MANY_SAME_MESSAGE, "sent_too_many_same_message"),
    (N.TemporaryBan.BROADCAST_LIST, "broadcast_list"),
])
def test_temporary_ban_reasons(code: int, name: str) -> None:
    assert temporary_ban_event(code, 3600) == TemporarilyBanned(expires_in_s=3600, reason=name)
    assert temporary_ban_event(code, 0).expires_in_s is None  # 0 means WhatsApp did not say


def test_disconnect_event_reads_the_neonize_protobufs() -> None:
    assert disconnect_event("StreamReplaced", N.StreamReplaced()) == LoggedOut(
        reason="replaced", error=ErrorCode.SESSION_REPLACED, detail="another client connected with this session's keys")
    assert disconnect_event("ClientOutdated", N.ClientOutdated()).error is ErrorCode.CLIENT_OUTDATED
    unset = N.LoggedOut.FromString(N.LoggedOut(OnConnect=True).SerializePartialToString())
    assert disconnect_event("LoggedOut", unset).reason == "logged_out"  # unmapped 413/414/415/418 leave it unset
    assert disconnect_event("ConnectFailure", N.ConnectFailure(Reason=R.TEMP_BANNED, Message="x")) == \
        TemporarilyBanned(expires_in_s=None, reason="temp_banned")
    assert disconnect_event("Connected", N.Connected(status=True)) is None
