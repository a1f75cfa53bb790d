"""Requesting an approval sends the question over WhatsApp and records the approval with the
accepted message — and only then: a send that fails leaves no pending approval."""

from __future__ import annotations

import pytest
from django.utils import timezone

from approvals.models import Approval
from approvals.services import expire_due, get_approval, list_approvals, request_approval, respond
from tests.factories import RunnerSide, connected_device, make_approval, make_device
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import DeliveryStatus, DeviceCommand, DeviceEvent, Message
from whatsapp.services.ingest import record_outbound

ALICE_PHONE = "+15145550101"
ALICE = "15145550101@s.whatsapp.net"


@pytest.mark.django_db
def test_the_request_is_queued_with_its_pending_approval(settings) -> None:
    settings.TIME_ZONE = "America/Montreal"
    device = connected_device()
    approval = request_approval(device, ALICE_PHONE, "Deploy v2", "to production", 120, wait_s=0)
    approval.refresh_from_db()
    assert (approval.status, approval.recipient_jid, approval.timeout_seconds) == ("pending", ALICE, 120)
    message = Message.objects.get(wa_id=approval.request_wa_id)
    assert message.status == DeliveryStatus.QUEUED
    assert message.chat.jid == ALICE
    for part in ("Approval request", "Deploy v2", "to production", "APPROVE", "DENY", approval.pk, "EST"):
        assert part in message.body
    assert (approval.expires_at - approval.created_at).total_seconds() == 120


@pytest.mark.django_db(transaction=True)
def test_a_send_refused_by_whatsapp_leaves_no_approval() -> None:
    device = connected_device()

    def refuse(command: DeviceCommand) -> None:
        record_outbound(device, command.message, status=DeliveryStatus.FAILED,
                        error_code=ErrorCode.MESSAGE_CONTACT_BLOCKED.code)
        command.fail(ErrorCode.MESSAGE_CONTACT_BLOCKED)

    with RunnerSide(device.pk, refuse), pytest.raises(WhatsAppError) as caught:
        request_approval(device, ALICE_PHONE, "Deploy", wait_s=5)
    assert caught.value.code is ErrorCode.MESSAGE_CONTACT_BLOCKED
    assert not Approval.objects.exists()


@pytest.mark.django_db
def test_a_send_failing_later_in_the_runner_discards_the_approval() -> None:
    device = connected_device()
    approval = request_approval(device, ALICE_PHONE, "Deploy", wait_s=0)
    assert Approval.discard_unsent(device.pk, [approval.request_wa_id]) == 1
    assert not Approval.objects.filter(pk=approval.pk).exists()


@pytest.mark.django_db
def test_a_device_not_connected_sends_nothing_and_records_nothing() -> None:
    device = make_device()
    with pytest.raises(WhatsAppError) as caught:
        request_approval(device, ALICE_PHONE, "Deploy", wait_s=0)
    assert caught.value.code is ErrorCode.MESSAGE_NOT_CONNECTED
    assert not Approval.objects.exists()
    assert not Message.objects.filter(device=device).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("timeout", [9, 3601, 0, -5, "60", None, True])
def test_timeouts_outside_10_to_3600_seconds_are_refused(timeout: object) -> None:
    with pytest.raises(WhatsAppError) as caught:
        request_approval(connected_device(), ALICE_PHONE, "Deploy", timeout=timeout, wait_s=0)
    assert caught.value.code is ErrorCode.APPROVAL_INVALID_TIMEOUT
    assert not Message.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("to", ["Alice", "not a number", "+1", ""])
def test_a_recipient_that_is_neither_a_jid_nor_a_number_is_not_found(to: str) -> None:
    with pytest.raises(WhatsAppError) as caught:
        request_approval(connected_device(), to, "Deploy", wait_s=0)
    assert caught.value.code is ErrorCode.APPROVAL_RECIPIENT_NOT_FOUND


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "details"), [("", ""), ("   ", ""), ("x" * 501, ""), ("ok", "d" * 2001)])
def test_action_and_details_are_bounded(action: str, details: str) -> None:
    with pytest.raises(WhatsAppError) as caught:
        request_approval(connected_device(), ALICE_PHONE, action, details, wait_s=0)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR


@pytest.mark.django_db
def test_expire_due_ends_overdue_approvals_with_an_event() -> None:
    device = connected_device()
    overdue, fresh = make_approval(device), make_approval(device)
    Approval.objects.filter(pk=overdue.pk).update(expires_at=timezone.now())
    assert expire_due() == 1
    overdue.refresh_from_db()
    assert (overdue.status, overdue.decided_by) == ("expired", "expiry")
    assert Approval.objects.get(pk=fresh.pk).status == "pending"
    event = DeviceEvent.objects.filter(device=device, type="approval_resolved").last()
    assert (event.payload["request_id"], event.payload["status"], event.payload["source"]) == (
        overdue.pk, "expired", "expiry")
    assert expire_due() == 0


@pytest.mark.django_db
def test_reads_never_show_an_overdue_approval_as_pending() -> None:
    device = connected_device()
    approval = make_approval(device)
    Approval.objects.filter(pk=approval.pk).update(expires_at=timezone.now())
    assert get_approval(device, approval.pk).status == "expired"
    other = make_approval(device)
    Approval.objects.filter(pk=other.pk).update(expires_at=timezone.now())
    assert [a.status for a in list_approvals(device)] == ["expired", "expired"]


@pytest.mark.django_db
def test_another_devices_approval_is_not_found() -> None:
    approval = make_approval(connected_device())
    with pytest.raises(WhatsAppError) as caught:
        get_approval(connected_device(), approval.pk)
    assert caught.value.code is ErrorCode.NOT_FOUND


@pytest.mark.django_db
def test_operator_and_api_decisions_record_their_source() -> None:
    device = connected_device()
    by_operator, by_api = make_approval(device), make_approval(device)
    respond(by_operator, False, "operator", user="alice-ops")
    respond(by_api, True, "api", text="approved from the CRM")
    assert (by_operator.status, by_operator.decided_by, by_operator.decided_by_user) == ("denied", "operator",
                                                                                         "alice-ops")
    assert (by_api.status, by_api.decided_by, by_api.response_text) == ("approved", "api", "approved from the CRM")
    with pytest.raises(WhatsAppError) as caught:
        respond(by_api, False, "api")
    assert caught.value.code is ErrorCode.APPROVAL_ALREADY_RESPONDED
