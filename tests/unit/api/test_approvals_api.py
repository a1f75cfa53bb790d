"""/devices/{device_id}/approvals: request one over WhatsApp (the question queued in the outbox, the
approval recorded with it, nothing left behind when the send is refused), list (newest first, status
filter, cursor pages, the pending count, overdue ones expired first), read one, decide one (approve,
deny, first decision wins, too late), tenant isolation, bad input and the OpenAPI document."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import Approval, ApprovalStatus, DecisionSource
from tests.factories import RunnerSide, connected_device, make_app_with_token, make_approval, make_device
from tests.unit.api.conftest import ApiClient, assert_refused
from whatsapp.api.site import api as ninja_api
from whatsapp.errors import ErrorCode
from whatsapp.models import (
    CommandKind,
    CommandState,
    DeliveryStatus,
    Device,
    DeviceCommand,
    DeviceEvent,
    Direction,
    EventType,
    Message,
)
from whatsapp.services.history import encode_cursor
from whatsapp.services.ingest import record_outbound

PHONE = "15551234567@s.whatsapp.net"
OTHER = "15557654321@s.whatsapp.net"
ASYNC = {"Prefer": "respond-async"}
FIELDS = {"request_id", "device_id", "recipient_jid", "action", "details", "timeout_seconds", "status",
          "seconds_left", "response_text", "decided_by", "decided_by_user", "request_message_id", "created_at",
          "expires_at", "responded_at"}


@pytest.fixture(autouse=True)
def no_wait(settings) -> None:
    """No wait for WhatsApp's ack unless a test plays the runner."""
    settings.SEND_WAIT_SECONDS = 0


@pytest.fixture
def device(app) -> Device:
    return connected_device(app)


def base(device: Device) -> str:
    return f"/devices/{device.pk}/approvals"


def one(approval: Approval) -> str:
    return f"/devices/{approval.device_id}/approvals/{approval.pk}"


def answer(approval: Approval) -> str:
    return one(approval) + "/respond"


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def pending(device: Device, *, age_s: float = 0, timeout: int = 300, **fields) -> Approval:
    return make_approval(device, created_at=ago(age_s), timeout_seconds=timeout, **fields)


def overdue(device: Device, **fields) -> Approval:
    """Still stored as pending, its deadline passed a minute ago (beat has not run yet)."""
    return pending(device, age_s=70, timeout=10, **fields)


def decided(device: Device, status: str = ApprovalStatus.APPROVED, **fields) -> Approval:
    approval = pending(device, **fields)
    Approval.objects.filter(pk=approval.pk).update(status=status, decided_by=DecisionSource.REPLY,
                                                   response_text="yes", responded_at=timezone.now())
    approval.refresh_from_db()
    return approval


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()["data"]


def refused(response, code: str, status: int, field: str | None = None) -> dict:
    return assert_refused(response, status, code, field)


# --- request -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_request_queues_the_question_and_records_a_pending_approval(api, device) -> None:
    response = api.post(base(device), {"to": "+1 555 123 4567", "action": "Deploy v2 to production",
                                       "details": "Build 1234, all checks green", "timeout": 120}, headers=ASYNC)
    data = ok(response, 201)
    assert response["Preference-Applied"] == "respond-async"
    assert set(data) == FIELDS
    approval = Approval.objects.get()
    assert data["request_id"] == approval.pk
    assert approval.pk.startswith("approval_")
    assert (data["device_id"], data["recipient_jid"]) == (str(device.pk), PHONE)
    assert (data["action"], data["details"]) == ("Deploy v2 to production", "Build 1234, all checks green")
    assert (data["status"], data["timeout_seconds"]) == ("pending", 120)
    assert 118 <= data["seconds_left"] <= 120
    assert (data["response_text"], data["decided_by"], data["decided_by_user"], data["responded_at"]) == (
        None, None, None, None)
    message = Message.objects.get()
    assert data["request_message_id"] == message.wa_id == approval.request_wa_id
    assert (message.direction, message.status, message.chat.jid) == (Direction.OUTBOUND, DeliveryStatus.QUEUED,
                                                                     PHONE)
    assert all(text in message.body for text in (approval.pk, "Deploy v2 to production",
                                                 "Build 1234, all checks green", "APPROVE", "DENY"))
    command = DeviceCommand.objects.get(message=message)
    assert (command.kind, command.state) == (CommandKind.SEND, CommandState.PENDING)
    assert approval.expires_at - approval.created_at == timedelta(seconds=120)


@pytest.mark.django_db
def test_the_timeout_defaults_to_five_minutes_and_details_are_optional(api, device) -> None:
    data = ok(api.post(base(device), {"to": PHONE, "action": "Open the gate"}, headers=ASYNC), 201)
    assert (data["timeout_seconds"], data["details"]) == (300, "")
    assert "Details:" not in Message.objects.get().body
    data = ok(api.post(base(device), {"to": PHONE, "action": "Again", "details": None, "timeout": None},
                       headers=ASYNC), 201)
    assert data["timeout_seconds"] == 300


@pytest.mark.django_db
@pytest.mark.parametrize(("timeout", "stored"), [(10, 10), (3600, 3600), (45.9, 45)])
def test_timeout_bounds_are_inclusive(api, device, timeout: float, stored: int) -> None:
    data = ok(api.post(base(device), {"to": PHONE, "action": "Go", "timeout": timeout}, headers=ASYNC), 201)
    assert data["timeout_seconds"] == stored


@pytest.mark.django_db
def test_without_prefer_the_wait_is_the_send_wait(api, device) -> None:
    response = api.post(base(device), {"to": PHONE, "action": "Go"})  # SEND_WAIT_SECONDS = 0: no runner needed
    data = ok(response, 201)
    assert "Preference-Applied" not in response
    assert data["status"] == "pending"
    assert Message.objects.get().status == DeliveryStatus.QUEUED


@pytest.mark.django_db(transaction=True)
def test_within_the_wait_the_question_goes_out(api, device, settings) -> None:
    settings.SEND_WAIT_SECONDS = 5

    def sends(command: DeviceCommand) -> None:
        record_outbound(device, command.message, status=DeliveryStatus.SENT, timestamp=timezone.now())
        command.succeed({"message_id": command.message.wa_id, "status": "sent"})

    with RunnerSide(device.pk, sends):
        data = ok(api.post(base(device), {"to": PHONE, "action": "Go"}), 201)
    assert data["status"] == "pending"
    assert Message.objects.get(wa_id=data["request_message_id"]).status == DeliveryStatus.SENT


@pytest.mark.django_db(transaction=True)
def test_a_send_refused_by_whatsapp_leaves_no_approval(api, device, settings) -> None:
    settings.SEND_WAIT_SECONDS = 5

    def refuses(command: DeviceCommand) -> None:
        record_outbound(device, command.message, status=DeliveryStatus.FAILED,
                        error_code=ErrorCode.MESSAGE_SEND_FAILED.code)
        command.fail(ErrorCode.MESSAGE_SEND_FAILED)

    with RunnerSide(device.pk, refuses):
        error = refused(api.post(base(device), {"to": PHONE, "action": "Go"}), "message_send_failed", 500)
    assert Message.objects.get(wa_id=error["details"]["message_id"]).status == DeliveryStatus.FAILED
    assert not Approval.objects.exists()


@pytest.mark.django_db
def test_a_device_that_is_not_connected_asks_nothing(api, app) -> None:
    device = make_device(app)
    refused(api.post(base(device), {"to": PHONE, "action": "Go"}, headers=ASYNC), "device_not_connected", 409)
    assert not Approval.objects.exists()
    assert not Message.objects.exists()
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
def test_a_destroyed_device_asks_nothing(api, device) -> None:
    device.destroy()
    refused(api.post(base(device), {"to": PHONE, "action": "Go"}, headers=ASYNC), "device_destroyed", 410)
    assert not Approval.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("timeout", [9, 9.99, 3601, 0, -5, 10**12])
def test_a_timeout_out_of_range_is_approval_invalid_timeout(api, device, timeout: float) -> None:
    refused(api.post(base(device), {"to": PHONE, "action": "Go", "timeout": timeout}, headers=ASYNC),
            "approval_invalid_timeout", 400, "timeout")
    assert not Approval.objects.exists()
    assert not Message.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("to", ["not a number", "12", "bad@@jid"])
def test_an_unresolvable_recipient_is_approval_recipient_not_found(api, device, to: str) -> None:
    refused(api.post(base(device), {"to": to, "action": "Go"}, headers=ASYNC), "approval_recipient_not_found", 404,
            "to")
    assert not Approval.objects.exists()
    assert not Message.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ({"action": "Go"}, "to"),
    ({"to": "", "action": "Go"}, "to"),
    ({"to": "1" * 201, "action": "Go"}, "to"),
    ({"to": PHONE}, "action"),
    ({"to": PHONE, "action": "   "}, "action"),
    ({"to": PHONE, "action": "x" * 501}, "action"),
    ({"to": PHONE, "action": "Go\u0000"}, "action"),
    ({"to": PHONE, "action": "Go", "details": "x" * 2001}, "details"),
    ({"to": PHONE, "action": "Go", "timeout": "300"}, "timeout"),
    ({"to": PHONE, "action": "Go", "timeout": True}, "timeout"),
    ({"to": PHONE, "action": "Go", "recipient": PHONE}, "recipient"),
])
def test_bad_bodies_are_validation_errors(api, device, body: dict, field: str) -> None:
    refused(api.post(base(device), body, headers=ASYNC), "validation_error", 400, field)
    assert not Approval.objects.exists()


@pytest.mark.django_db
def test_an_unknown_device_is_not_found(api) -> None:
    refused(api.post(f"/devices/{uuid.uuid4()}/approvals", {"to": PHONE, "action": "Go"}), "not_found", 404)


# --- list ----------------------------------------------------------------------------------------------


def listing(api: ApiClient, device: Device, **query: object) -> dict:
    return ok(api.get(base(device), **query))


def ids(data: dict) -> list[str]:
    return [item["request_id"] for item in data["approvals"]]


def walk(api: ApiClient, device: Device, cursor: str | None = None, **query: object) -> list[str]:
    seen: list[str] = []
    while True:
        data = listing(api, device, **query, **({"cursor": cursor} if cursor else {}))
        seen += ids(data)
        cursor = data["next_cursor"]
        if cursor is None:
            return seen


def newest_first(approvals: list[Approval]) -> list[str]:
    return [a.pk for a in sorted(approvals, key=lambda a: (a.created_at, a.pk), reverse=True)]


@pytest.fixture
def several(device) -> list[Approval]:
    """Six approvals of the device (three created at the very same instant), of every status."""
    tied = ago(40)
    return [pending(device, age_s=50), decided(device, ApprovalStatus.DENIED),
            make_approval(device, created_at=tied), make_approval(device, created_at=tied),
            make_approval(device, created_at=tied, status=ApprovalStatus.EXPIRED, decided_by=DecisionSource.EXPIRY),
            pending(device, age_s=1)]


@pytest.mark.django_db
def test_newest_first_in_pages_without_duplicates_or_gaps(api, device, several) -> None:
    first = listing(api, device, limit=2)
    assert ids(first) == newest_first(several)[:2]
    assert first["next_cursor"]
    assert walk(api, device, limit=2) == newest_first(several)
    assert walk(api, device, limit=1) == newest_first(several)
    everything = listing(api, device)
    assert (ids(everything), everything["next_cursor"]) == (newest_first(several), None)
    assert set(everything["approvals"][0]) == FIELDS


@pytest.mark.django_db
def test_pages_are_stable_while_approvals_arrive(api, device, several) -> None:
    first = listing(api, device, limit=3)
    pending(device)  # newer: above the cursor
    rest = walk(api, device, limit=2, cursor=first["next_cursor"])
    assert ids(first) + rest == newest_first(several)


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["pending", "approved", "denied", "expired"])
def test_filter_by_status(api, device, several, status: str) -> None:
    several.append(decided(device, ApprovalStatus.APPROVED))
    expected = newest_first([a for a in several if a.status == status])
    assert expected
    assert walk(api, device, status=status, limit=1) == expected


@pytest.mark.django_db
def test_pending_counts_the_whole_device_whatever_the_filters(api, app, device, several) -> None:
    pending(make_device(app))  # another device's: neither listed nor counted
    assert listing(api, device)["pending"] == 4
    assert listing(api, device, status="denied", limit=1)["pending"] == 4
    assert len(walk(api, device)) == len(several)


@pytest.mark.django_db
def test_overdue_approvals_are_listed_as_expired(api, device) -> None:
    late = overdue(device)
    live = pending(device)
    data = listing(api, device)
    assert data["pending"] == 1
    shown = {item["request_id"]: item for item in data["approvals"]}
    assert (shown[late.pk]["status"], shown[late.pk]["decided_by"], shown[late.pk]["seconds_left"]) == (
        "expired", "expiry", 0)
    assert shown[late.pk]["responded_at"] is not None
    assert shown[live.pk]["status"] == "pending"
    assert ids(listing(api, device, status="pending")) == [live.pk]


@pytest.mark.django_db
def test_a_device_without_approvals(api, device) -> None:
    assert listing(api, device) == {"approvals": [], "next_cursor": None, "pending": 0}


@pytest.mark.django_db
def test_a_destroyed_devices_approvals_stay_readable(api, device) -> None:
    approval = decided(device)
    device.destroy()
    assert ids(listing(api, device)) == [approval.pk]
    assert ok(api.get(one(approval)))["status"] == "approved"


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "field"), [
    ({"status": "bogus"}, "status"),
    ({"status": "PENDING"}, "status"),
    ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": "x" * 501}, "cursor"),
    ({"cursor": "a\u0000"}, "cursor"),
    ({"cursor": encode_cursor(timezone.now(), 0)}, "cursor"),  # a history cursor naming no id
    ({"cursor": encode_cursor(timezone.now(), -1)}, "cursor"),
    ({"cursor": encode_cursor(timezone.now(), 0xFF)}, "cursor"),  # not UTF-8
    ({"cursor": encode_cursor(timezone.now(), 1 << 1000)}, "cursor"),  # longer than any id
])
def test_bad_list_parameters_are_validation_errors(api, device, several, query: dict, field: str) -> None:
    refused(api.get(base(device), **query), "validation_error", 400, field)


@pytest.mark.django_db
def test_limit_bounds(api, device, several) -> None:
    assert len(listing(api, device, limit=200)["approvals"]) == len(several)
    assert len(listing(api, device, limit=1)["approvals"]) == 1


# --- one approval --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_one_approval_with_every_field(api, device) -> None:
    approval = pending(device, action="Wire 500 EUR", details="Invoice 77", request_wa_id="3EB0AAA")
    data = ok(api.get(one(approval)))
    assert set(data) == FIELDS
    assert (data["request_id"], data["device_id"], data["recipient_jid"]) == (approval.pk, str(device.pk), PHONE)
    assert (data["action"], data["details"], data["request_message_id"]) == ("Wire 500 EUR", "Invoice 77", "3EB0AAA")
    assert (data["status"], data["timeout_seconds"]) == ("pending", 300)
    assert 298 <= data["seconds_left"] <= 300
    assert data["created_at"].endswith("Z")
    assert data["expires_at"].endswith("Z")
    assert (data["response_text"], data["decided_by"], data["decided_by_user"], data["responded_at"]) == (
        None, None, None, None)


@pytest.mark.django_db
def test_a_decided_approval_shows_who_decided(api, device) -> None:
    approval = decided(device, ApprovalStatus.DENIED)
    data = ok(api.get(one(approval)))
    assert (data["status"], data["decided_by"], data["response_text"], data["seconds_left"]) == (
        "denied", "reply", "yes", 0)
    assert data["request_message_id"] is None
    assert data["responded_at"] is not None


@pytest.mark.django_db
def test_an_overdue_approval_is_expired_when_read(api, device) -> None:
    approval = overdue(device)
    data = ok(api.get(one(approval)))
    assert (data["status"], data["decided_by"], data["seconds_left"]) == ("expired", "expiry", 0)
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.EXPIRED
    assert DeviceEvent.objects.filter(device_id=device.pk, type=EventType.APPROVAL_RESOLVED).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("bad_id", ["approval_1_abcdefg", "nope", "x" * 300])
def test_an_unknown_id_is_not_found(api, device, method: str, bad_id: str) -> None:
    path = f"{base(device)}/{bad_id}" + ("/respond" if method == "post" else "")
    refused(api.request(method, path, {"decision": "approve"} if method == "post" else None), "not_found", 404)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_devices_approval_is_not_found_under_this_device(api, app, device, method: str) -> None:
    theirs = pending(make_device(app))
    path = f"{base(device)}/{theirs.pk}" + ("/respond" if method == "post" else "")
    refused(api.request(method, path, {"decision": "approve"} if method == "post" else None), "not_found", 404)
    theirs.refresh_from_db()
    assert theirs.status == ApprovalStatus.PENDING


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_id_longer_than_any_is_not_found_even_with_a_real_prefix(api, device, method: str) -> None:
    approval = pending(device, id="approval_" + "9" * 55)  # as long as the column allows
    path = f"{base(device)}/{approval.pk}x"
    path += "/respond" if method == "post" else ""
    refused(api.request(method, path, {"decision": "approve"} if method == "post" else None), "not_found", 404)
    assert stored_status(approval) == ApprovalStatus.PENDING


def stored_status(approval: Approval) -> str:
    return Approval.objects.get(pk=approval.pk).status


@pytest.mark.django_db
def test_a_nul_in_the_id_is_a_validation_error(api, device) -> None:
    refused(api.get(f"{base(device)}/approval%00x"), "validation_error", 400, "approval_id")


# --- respond -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_approve(api, device) -> None:
    approval = pending(device)
    data = ok(api.post(answer(approval), {"decision": "approve", "text": "ship it"}))
    assert set(data) == FIELDS
    assert (data["status"], data["decided_by"], data["decided_by_user"]) == ("approved", "api", None)
    assert (data["response_text"], data["seconds_left"]) == ("ship it", 0)
    assert data["responded_at"] is not None
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by, approval.response_text) == (
        ApprovalStatus.APPROVED, DecisionSource.API, "ship it")
    (event,) = DeviceEvent.objects.filter(device_id=device.pk, type=EventType.APPROVAL_RESOLVED)
    assert (event.payload["request_id"], event.payload["status"], event.payload["source"]) == (
        approval.pk, "approved", "api")


@pytest.mark.django_db
def test_deny(api, device) -> None:
    approval = pending(device)
    data = ok(api.post(answer(approval), {"decision": "deny"}))
    assert (data["status"], data["decided_by"], data["response_text"]) == ("denied", "api", None)
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.DENIED


@pytest.mark.django_db
@pytest.mark.parametrize("first", ["approve", "deny"])
def test_the_first_decision_wins(api, device, first: str) -> None:
    approval = pending(device)
    ok(api.post(answer(approval), {"decision": first}))
    error = refused(api.post(answer(approval), {"decision": "approve"}), "approval_already_responded", 409)
    assert error["details"] == {"request_id": approval.pk, "status": "approved" if first == "approve" else "denied"}
    refused(api.post(answer(approval), {"decision": "deny"}), "approval_already_responded", 409)
    approval.refresh_from_db()
    assert approval.status == ("approved" if first == "approve" else "denied")
    assert DeviceEvent.objects.filter(device_id=device.pk, type=EventType.APPROVAL_RESOLVED).count() == 1


@pytest.mark.django_db
def test_a_reply_decided_approval_is_already_responded(api, device) -> None:
    approval = decided(device, ApprovalStatus.DENIED)
    refused(api.post(answer(approval), {"decision": "approve"}), "approval_already_responded", 409)
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by) == (ApprovalStatus.DENIED, DecisionSource.REPLY)


@pytest.mark.django_db
def test_after_the_deadline_it_is_approval_timeout(api, device) -> None:
    approval = overdue(device)
    error = refused(api.post(answer(approval), {"decision": "approve"}), "approval_timeout", 408)
    assert error["details"]["request_id"] == approval.pk
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by) == (ApprovalStatus.EXPIRED, DecisionSource.EXPIRY)
    refused(api.post(answer(approval), {"decision": "deny"}), "approval_timeout", 408)  # expired stays expired


@pytest.mark.django_db
def test_the_round_trip(api, device) -> None:
    created = ok(api.post(base(device), {"to": PHONE, "action": "Reboot db-1"}, headers=ASYNC), 201)
    path = f"{base(device)}/{created['request_id']}"
    assert ok(api.get(path))["status"] == "pending"
    assert listing(api, device)["pending"] == 1
    decided_now = ok(api.post(path + "/respond", {"decision": "approve"}))
    assert decided_now["status"] == "approved"
    assert ok(api.get(path)) == decided_now | {"seconds_left": 0}
    assert listing(api, device)["pending"] == 0
    assert ids(listing(api, device, status="approved")) == [created["request_id"]]
    refused(api.post(path + "/respond", {"decision": "deny"}), "approval_already_responded", 409)


@pytest.mark.django_db
def test_deciding_needs_no_connection(api, app) -> None:
    device = make_device(app)  # never linked
    approval = pending(device)
    assert ok(api.post(answer(approval), {"decision": "deny"}))["status"] == "denied"


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ({}, "decision"),
    ({"decision": "maybe"}, "decision"),
    ({"decision": "APPROVE"}, "decision"),
    ({"decision": True}, "decision"),
    ({"decision": "approve", "text": "x" * 4097}, "text"),
    ({"decision": "approve", "text": "ok\u0000"}, "text"),
    ({"decision": "approve", "by": "me"}, "by"),
])
def test_bad_decisions_are_validation_errors(api, device, body: dict, field: str) -> None:
    approval = pending(device)
    refused(api.post(answer(approval), body), "validation_error", 400, field)
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.PENDING


# --- isolation, auth, documentation -------------------------------------------------------------------


@pytest.mark.django_db
def test_another_apps_device_and_approvals_do_not_exist(api, device) -> None:
    victim_app, _ = make_app_with_token()
    victim_device = connected_device(victim_app)
    theirs = pending(victim_device)
    refused(api.get(base(victim_device)), "not_found", 404)
    refused(api.get(one(theirs)), "not_found", 404)
    refused(api.post(answer(theirs), {"decision": "approve"}), "not_found", 404)
    refused(api.post(base(victim_device), {"to": PHONE, "action": "Go"}, headers=ASYNC), "not_found", 404)
    refused(api.get(f"{base(device)}/{theirs.pk}"), "not_found", 404)  # under my own device
    refused(api.post(f"{base(device)}/{theirs.pk}/respond", {"decision": "deny"}), "not_found", 404)
    theirs.refresh_from_db()
    assert theirs.status == ApprovalStatus.PENDING
    assert Approval.objects.count() == 1
    assert not Message.objects.exists()
    assert listing(api, device) == {"approvals": [], "next_cursor": None, "pending": 0}


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("post", ""), ("get", "/approval_1_abcdefg"),
                                                ("post", "/approval_1_abcdefg/respond")])
def test_an_app_token_is_required(device, method: str, suffix: str) -> None:
    path = base(device) + suffix
    refused(ApiClient(None).request(method, path), "invalid_api_key", 401)
    refused(ApiClient("wag_bogus").request(method, path), "invalid_api_key", 401)


def test_the_openapi_document_names_the_statuses() -> None:
    paths = ninja_api.get_openapi_schema()["paths"]
    listing_path = "/devices/{device_id}/approvals"
    create = paths[listing_path]["post"]
    assert {"201", "400", "401", "404", "409", "410", "429", "500"} <= set(map(str, create["responses"]))
    assert create["security"] == [{"AppToken": []}]
    assert create["tags"] == ["approvals"]
    assert {"200", "400", "404"} <= set(map(str, paths[listing_path]["get"]["responses"]))
    assert {p["name"] for p in paths[listing_path]["get"]["parameters"]} == {"device_id", "status", "limit", "cursor"}
    assert {"200", "404"} <= set(map(str, paths[listing_path + "/{approval_id}"]["get"]["responses"]))
    respond = paths[listing_path + "/{approval_id}/respond"]["post"]
    assert {"200", "400", "404", "408", "409"} <= set(map(str, respond["responses"]))
