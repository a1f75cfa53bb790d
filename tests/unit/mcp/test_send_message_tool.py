"""send_message over MCP (reference/mcp-tools.md §2.4): resolve → whitelist → token → send, one retry after
a transient failure, and the labelled facts of the result; refusals before the token take none."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from audit.models import AuditLog
from tests.factories import ScriptedRunner as Runner
from tests.factories import connected_device, make_chat, make_contact, make_device
from tests.support.mcp import call, ok, refused
from whatsapp.errors import ErrorCode
from whatsapp.mcp.tools import messaging
from whatsapp.models import (
    CommandKind,
    CommandState,
    DeliveryStatus,
    Device,
    DeviceCommand,
    Message,
    ThrottleHit,
)
from whatsapp.services.ingest import record_outbound

PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
OWN = "15550001111@s.whatsapp.net"
GROUP = "120363041234567890@g.us"


@pytest.fixture(autouse=True)
def no_wait(settings):
    """Most tests need no runner: the send is accepted and reported as queued at once."""
    settings.SEND_WAIT_SECONDS = 0
    settings.RATE_LIMIT_PER_MIN = 60
    settings.ALLOWED_CONTACTS = []
    settings.DISABLED_TOOLS = []


def tokens(device: Device) -> int:
    return ThrottleHit.objects.filter(key=f"outbound:{device.pk}").count()


def nothing_sent(device: Device) -> None:
    assert not Message.objects.filter(device=device).exists()
    assert not DeviceCommand.objects.filter(device=device).exists()
    assert tokens(device) == 0, "a refused send takes no rate token"




def deliver(command: DeviceCommand) -> None:
    message = command.message
    record_outbound(Device.objects.get(pk=command.device_id), message, status=DeliveryStatus.SENT,
                    timestamp=timezone.now().replace(microsecond=0))
    command.succeed({"message_id": message.wa_id, "status": "sent"})


def failing(code: ErrorCode):
    def answer(command: DeviceCommand) -> None:
        record_outbound(Device.objects.get(pk=command.device_id), command.message, status=DeliveryStatus.FAILED,
                        error_code=code.code)
        command.fail(code)
    return answer


# --- success -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_sent_message_reports_name_jid_id_and_send_time(settings) -> None:
    settings.SEND_WAIT_SECONDS = 5
    device = connected_device(phone_jid=OWN)
    make_chat(device, PHONE, name="Alice")
    with Runner(device.pk, [deliver]):
        outcome = ok(device, "send_message", to="+1 555 123 4567", message="hello")
    message = Message.objects.get(device=device)
    assert (message.body, message.from_me, message.status, message.sender_jid) == ("hello", True, "sent", OWN)
    assert message.chat.jid == PHONE
    assert "Message sent" in outcome.text
    assert "To: Alice" in outcome.text
    assert f"JID: {PHONE}" in outcome.text
    assert f"Message ID: {message.wa_id}" in outcome.text
    assert re.search(r"Sent at: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", outcome.text)
    assert outcome.data["message_id"] == message.wa_id
    assert (outcome.data["jid"], outcome.data["name"], outcome.data["status"]) == (PHONE, "Alice", "sent")
    assert outcome.data["sent_at"] == message.sent_at.isoformat()
    assert outcome.data["attempts"] == 1
    assert tokens(device) == 1
    # The sent message is stored as our own and is never unread; the chat's preview follows it.
    assert not message.is_unread
    message.chat.refresh_from_db()
    assert message.chat.last_message_preview == "hello"


@pytest.mark.django_db
def test_without_an_ack_in_time_the_message_is_reported_queued() -> None:
    device = connected_device()
    outcome = ok(device, "send_message", to=PHONE, message="hello")
    message = Message.objects.get(device=device)
    assert message.status == DeliveryStatus.QUEUED
    assert "queued" in outcome.text.lower()
    assert f"Message ID: {message.wa_id}" in outcome.text
    assert "Queued at: " in outcome.text
    assert outcome.data["queued"] is True
    assert DeviceCommand.objects.get(message=message).payload == {"to": PHONE}


@pytest.mark.django_db
def test_a_name_resolves_and_the_custom_name_wins() -> None:
    device = connected_device()
    contact = make_contact(device, phone_jid=PHONE, lid=LID, push_name="ally", custom_name="Alice Work")
    make_chat(device, LID, name="ally", contact=contact, last_message_at=timezone.now())
    make_chat(device, "15559990000@s.whatsapp.net", name="Bob")
    outcome = ok(device, "send_message", to="alice work", message="hi")
    assert "To: Alice Work" in outcome.text
    assert Message.objects.get(device=device).chat.jid == outcome.data["jid"] == LID


@pytest.mark.django_db
def test_a_number_with_no_chat_is_reachable_and_shown_as_typed() -> None:
    device = connected_device()
    make_chat(device, "15551234568@s.whatsapp.net", name="Near Miss")  # one digit away: never chosen
    outcome = ok(device, "send_message", to="+1 555 123 4567", message="hi")
    assert "To: +1 555 123 4567" in outcome.text
    assert outcome.data["jid"] == PHONE
    assert Message.objects.get(device=device).chat.jid == PHONE


@pytest.mark.django_db
def test_a_group_jid_is_sent_to_directly() -> None:
    device = connected_device()
    make_chat(device, GROUP, name="Family")
    outcome = ok(device, "send_message", to=GROUP, message="hi all")
    assert "To: Family" in outcome.text
    assert f"JID: {GROUP}" in outcome.text


# --- refusals, none of which takes a token ------------------------------------------------------


@pytest.mark.django_db
def test_an_ambiguous_name_sends_nothing() -> None:
    device = connected_device()
    make_chat(device, PHONE, name="Sarah Connor")
    make_chat(device, "15559990000@s.whatsapp.net", name="Sarah McLachlan")
    outcome = refused(device, "send_message", ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, to="Sarah", message="hi")
    assert {c["jid"] for c in outcome.details["candidates"]} == {PHONE, "15559990000@s.whatsapp.net"}
    nothing_sent(device)


@pytest.mark.django_db
def test_an_unknown_name_is_not_found() -> None:
    device = connected_device()
    make_chat(device, PHONE, name="Alice")
    refused(device, "send_message", ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, to="Zebediah", message="hi")
    nothing_sent(device)


@pytest.mark.django_db
@pytest.mark.parametrize("to", ["15551234567@c.us", "+0 555 123 4567", "", "   "])
def test_an_invalid_recipient_is_a_validation_error(to: str) -> None:
    device = connected_device()
    outcome = refused(device, "send_message", ErrorCode.VALIDATION_ERROR, to=to, message="hi")
    assert outcome.details["field"] == "to"
    nothing_sent(device)


@pytest.mark.django_db
@pytest.mark.parametrize(("arguments", "field"), [
    ({"to": PHONE, "message": ""}, "message"),
    ({"to": PHONE, "message": " \n "}, "message"),
    ({"to": PHONE, "message": "x" * 4097}, "message"),
    ({"to": "x" * 201, "message": "hi"}, "to"),
    ({"message": "hi"}, "to"),
    ({"to": PHONE, "message": "hi", "extra": 1}, "extra"),
])
def test_bad_arguments_are_refused_before_anything(arguments: dict, field: str) -> None:
    device = connected_device()
    outcome = refused(device, "send_message", ErrorCode.VALIDATION_ERROR, **arguments)
    assert outcome.details["field"] == field
    nothing_sent(device)


@pytest.mark.django_db
def test_4096_characters_are_accepted() -> None:
    device = connected_device()
    ok(device, "send_message", to=PHONE, message="x" * 4096)
    assert len(Message.objects.get(device=device).body) == 4096


@pytest.mark.django_db
def test_a_recipient_outside_the_whitelist_is_refused_without_a_token() -> None:
    device = connected_device()
    Device.objects.filter(pk=device.pk).update(allowed_contacts="+15559990000")
    make_chat(device, PHONE, name="Alice")
    outcome = refused(device, "send_message", ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, to="Alice", message="hi")
    assert PHONE in outcome.text
    nothing_sent(device)


@pytest.mark.django_db
def test_a_lid_passes_through_its_allowed_phone_twin() -> None:
    device = connected_device()
    Device.objects.filter(pk=device.pk).update(allowed_contacts="+15551234567")
    make_contact(device, phone_jid=PHONE, lid=LID)
    ok(device, "send_message", to=LID, message="hi")
    assert tokens(device) == 1


@pytest.mark.django_db
def test_not_connected_is_refused_before_resolution() -> None:
    device = make_device()
    refused(device, "send_message", ErrorCode.MESSAGE_NOT_CONNECTED, to="Nobody Known", message="hi")
    nothing_sent(device)


@pytest.mark.django_db
def test_the_outbound_limit_refuses_with_a_retry_delay(settings) -> None:
    settings.RATE_LIMIT_PER_MIN = 1
    device = connected_device()
    ok(device, "send_message", to=PHONE, message="one")
    outcome = refused(device, "send_message", ErrorCode.MESSAGE_RATE_LIMITED, to=PHONE, message="two")
    assert 1 <= outcome.details["retry_after_s"] <= 60
    assert Message.objects.filter(device=device).count() == 1
    assert tokens(device) == 1


@pytest.mark.django_db
def test_a_disabled_send_is_refused_and_audited() -> None:
    device = connected_device()
    Device.objects.filter(pk=device.pk).update(disabled_tools="send_message")
    refused(device, "send_message", ErrorCode.PERMISSION_TOOL_DISABLED, to=PHONE, message="hi")
    nothing_sent(device)
    row = AuditLog.objects.get(action="send_message")
    assert (row.success, row.error_code) == (False, "PERMISSION_TOOL_DISABLED")


@pytest.mark.django_db
def test_the_audit_row_names_the_target_but_not_the_text() -> None:
    device = connected_device()
    ok(device, "send_message", to=PHONE, message="a secret text")
    row = AuditLog.objects.get(action="send_message")
    assert row.success
    assert "a secret text" not in str(row.details)
    assert row.details["arguments"]["jid"] == PHONE


# --- WhatsApp's failures -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_transient_failure_is_retried_once_after_the_delay(settings, monkeypatch) -> None:
    settings.SEND_WAIT_SECONDS = 5
    delays: list[float] = []
    monkeypatch.setattr(messaging, "_pause", delays.append)
    device = connected_device()
    with Runner(device.pk, [failing(ErrorCode.CONNECTION_TIMEOUT), deliver]):
        outcome = ok(device, "send_message", to=PHONE, message="hello")
    assert delays == [messaging.RETRY_DELAY_S] == [2.0]
    assert outcome.data["attempts"] == 2
    assert "Attempts: 2" in outcome.text
    sent = Message.objects.get(device=device, status=DeliveryStatus.SENT)
    assert outcome.data["message_id"] == sent.wa_id
    assert Message.objects.filter(device=device, status=DeliveryStatus.FAILED).count() == 1
    assert tokens(device) == 1, "one call, one token"


@pytest.mark.django_db(transaction=True)
def test_a_second_transient_failure_is_message_send_failed(settings, monkeypatch) -> None:
    settings.SEND_WAIT_SECONDS = 5
    monkeypatch.setattr(messaging, "_pause", lambda s: None)
    device = connected_device()
    with Runner(device.pk, [failing(ErrorCode.PROVIDER_ERROR), failing(ErrorCode.PROVIDER_ERROR)]):
        outcome = refused(device, "send_message", ErrorCode.MESSAGE_SEND_FAILED, to=PHONE, message="hello")
    assert (outcome.details["cause"], outcome.details["attempts"]) == ("PROVIDER_ERROR", 2)
    assert DeviceCommand.objects.filter(device=device, kind=CommandKind.SEND, state=CommandState.FAILED).count() == 2
    assert tokens(device) == 1, "a call WhatsApp refused still used its token"


@pytest.mark.django_db(transaction=True)
def test_a_permanent_refusal_is_not_retried(settings, monkeypatch) -> None:
    settings.SEND_WAIT_SECONDS = 5
    monkeypatch.setattr(messaging, "_pause", lambda s: pytest.fail("no retry for a permanent refusal"))
    device = connected_device()
    make_chat(device, GROUP, name="Announcements")
    with Runner(device.pk, [failing(ErrorCode.GROUP_POSTING_RESTRICTED)]):
        outcome = refused(device, "send_message", ErrorCode.MESSAGE_SEND_FAILED, to=GROUP, message="hello")
    assert (outcome.details["cause"], outcome.details["attempts"]) == ("GROUP_POSTING_RESTRICTED", 1)
    assert outcome.details["message_id"] == Message.objects.get(device=device).wa_id
    assert DeviceCommand.objects.filter(device=device).count() == 1


@pytest.mark.django_db
def test_get_tool_info_documents_the_send() -> None:
    device = connected_device()
    info = call(device, "get_tool_info", tool_name="send_message")
    for code in ("MESSAGE_RATE_LIMITED", "MESSAGE_SEND_FAILED", "MESSAGE_AMBIGUOUS_RECIPIENT",
                 "MESSAGE_NOT_CONNECTED", "PERMISSION_CONTACT_NOT_WHITELISTED"):
        assert code in info.data["errors"]
    assert info.data["rate"] == "outbound"
