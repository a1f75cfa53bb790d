"""React, edit, revoke and mark read over REST: each happy path with the runner's answer played by
``RunnerSide``, and every documented error of each endpoint."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import RunnerSide, connected_device, make_chat, make_device, make_message
from tests.unit.api.conftest import error_of
from whatsapp.errors import ErrorCode
from whatsapp.models import (
    Chat,
    CommandKind,
    DeliveryStatus,
    DeviceCommand,
    Direction,
    Message,
    MessageType,
    Reaction,
)
from whatsapp.services import actions

PHONE = "15551234567@s.whatsapp.net"
OWN = "15550001111@s.whatsapp.net"
ACTION_ID = re.compile(r"^3EB0[0-9A-F]{18}$")
WHEN = timezone.now().replace(microsecond=0) - timedelta(seconds=5)


@pytest.fixture
def device(app):
    return connected_device(app, phone_jid=OWN)


def chat_of(device) -> Chat:
    return Chat.objects.filter(device=device, jid=PHONE).first() or make_chat(device, PHONE)


def inbound(device, wa_id: str = "IN1", **fields) -> Message:
    fields.setdefault("timestamp", WHEN - timedelta(minutes=1))
    return make_message(device, chat_of(device), wa_id, direction=Direction.INBOUND, sender_jid=PHONE,
                        body="hello", **fields)


def own(device, wa_id: str = "OUT1", **fields) -> Message:
    fields.setdefault("status", DeliveryStatus.SENT)
    return make_message(device, chat_of(device), wa_id, direction=Direction.OUTBOUND, from_me=True, sender_jid=OWN,
                        body="first draft", **fields)


def accept(command: DeviceCommand) -> None:
    """The runner's answer to a react/edit/revoke: WhatsApp's id and time of the action."""
    command.succeed({"wa_id": command.payload["wa_id"], "timestamp": WHEN.isoformat()})


def refusing(code: ErrorCode):
    return lambda command: command.fail(code)


def failed(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert error_of(response) == code
    error = response.json()["error"]
    if field is not None:
        assert error["details"]["field"] == field
    return error


def url(device, message_id: str, tail: str = "") -> str:
    return f"/devices/{device.pk}/messages/{message_id}{tail}"


def nothing_queued() -> None:
    assert not DeviceCommand.objects.exists()


# --- react --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_react_and_remove_the_reaction(api, device) -> None:
    message = inbound(device)
    with RunnerSide(device.pk, accept) as runner:
        response = api.post(url(device, message.wa_id, "/reaction"), {"emoji": "👍"})
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["emoji"], data["removed"], data["chat_jid"]) == ("👍", False, PHONE)
    assert ACTION_ID.match(data["action_message_id"])
    assert data["message"]["message_id"] == message.wa_id
    assert data["message"]["text"] == "hello"
    assert data["timestamp"].endswith("Z")
    [command] = runner.handled
    assert (command.kind, command.payload["emoji"], command.payload["target_wa_id"]) == (CommandKind.REACT, "👍",
                                                                                        message.wa_id)
    assert Reaction.objects.get(message=message).emoji == "👍"
    with RunnerSide(device.pk, accept):
        response = api.post(url(device, message.wa_id, "/reaction"), {"emoji": ""})
    assert (response.status_code, response.json()["data"]["removed"]) == (200, True)
    assert not Reaction.objects.filter(message=message).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"emoji": "ok"}, {"emoji": "👍👍"}, {}, {"emoji": None}, {"emoji": "👍", "x": 1}])
def test_a_reaction_must_be_one_emoji(api, device, body: dict) -> None:
    response = api.post(url(device, inbound(device).wa_id, "/reaction"), body)
    failed(response, 400, "validation_error", "x" if "x" in body else "emoji")
    nothing_queued()


@pytest.mark.django_db
def test_reacting_to_a_deleted_message(api, device) -> None:
    message = inbound(device, revoked_at=timezone.now())
    failed(api.post(url(device, message.wa_id, "/reaction"), {"emoji": "👍"}), 400, "validation_error", "message_id")


# --- edit ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_edit_own_text(api, device) -> None:
    message = own(device)
    with RunnerSide(device.pk, accept) as runner:
        response = api.patch(url(device, message.wa_id), {"text": "final text"})
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["message"]["text"] == "final text"
    assert ACTION_ID.match(data["action_message_id"])
    assert runner.handled[0].kind == CommandKind.EDIT
    message.refresh_from_db()
    assert (message.body, message.edited_at) == ("final text", WHEN)


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "body", "field"), [
    ({}, {"text": ""}, "text"),
    ({}, {}, "text"),
    ({"status": DeliveryStatus.QUEUED}, {"text": "new"}, "message_id"),
    ({"status": DeliveryStatus.FAILED}, {"text": "new"}, "message_id"),
    ({"type": MessageType.IMAGE}, {"text": "new"}, "message_id"),
    ({"revoked_at": WHEN}, {"text": "new"}, "message_id"),
])
def test_what_cannot_be_edited(api, device, fields: dict, body: dict, field: str) -> None:
    failed(api.patch(url(device, own(device, **fields).wa_id), body), 400, "validation_error", field)
    nothing_queued()


@pytest.mark.django_db
def test_only_own_messages_are_edited(api, device) -> None:
    failed(api.patch(url(device, inbound(device).wa_id), {"text": "new"}), 400, "validation_error", "message_id")


@pytest.mark.django_db
def test_an_edit_is_limited_like_a_message(api, device) -> None:
    failed(api.patch(url(device, own(device).wa_id), {"text": "x" * 4097}), 413, "message_too_long", "text")
    nothing_queued()


# --- revoke -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_revoke_own_message(api, device) -> None:
    message = own(device)
    with RunnerSide(device.pk, accept) as runner:
        response = api.delete(url(device, message.wa_id))
    assert response.status_code == 200, response.content
    assert response.json()["data"]["message"]["message_id"] == message.wa_id
    assert runner.handled[0].kind == CommandKind.REVOKE
    message.refresh_from_db()
    assert message.revoked_at == WHEN


@pytest.mark.django_db
@pytest.mark.parametrize("make", [inbound, lambda d: own(d, status=DeliveryStatus.QUEUED),
                                  lambda d: own(d, revoked_at=WHEN)])
def test_what_cannot_be_revoked(api, device, make) -> None:
    failed(api.delete(url(device, make(device).wa_id)), 400, "validation_error", "message_id")
    nothing_queued()


# --- what every action shares -------------------------------------------------------------------

ACTIONS = [
    pytest.param(lambda api, path: api.post(f"{path}/reaction", {"emoji": "👍"}), id="react"),
    pytest.param(lambda api, path: api.patch(path, {"text": "new"}), id="edit"),
    pytest.param(lambda api, path: api.delete(path), id="revoke"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("call", ACTIONS)
def test_an_unknown_message_is_not_found(api, app, device, call) -> None:
    failed(call(api, url(device, "NOPE")), 404, "not_found")
    elsewhere = own(connected_device(app), "THEIRS")  # the app's other device's message
    failed(call(api, url(device, elsewhere.wa_id)), 404, "not_found")
    nothing_queued()


@pytest.mark.django_db
@pytest.mark.parametrize("call", ACTIONS)
def test_a_blank_message_id(api, device, call) -> None:
    failed(call(api, url(device, "%20%20")), 400, "validation_error", "message_id")
    failed(call(api, url(device, "A%00B")), 400, "validation_error", "message_id")


@pytest.mark.django_db
@pytest.mark.parametrize("call", ACTIONS)
def test_actions_need_a_connected_device(api, app, call) -> None:
    device = make_device(app)
    failed(call(api, url(device, own(device).wa_id)), 409, "device_not_connected")
    nothing_queued()


@pytest.mark.django_db
@pytest.mark.parametrize("call", ACTIONS)
def test_actions_on_a_destroyed_device(api, device, call) -> None:
    message = own(device)
    device.destroy()
    failed(call(api, url(device, message.wa_id)), 410, "device_destroyed")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("code", "status"), [(ErrorCode.PROVIDER_RATE_LIMITED, 429), (ErrorCode.FORBIDDEN, 403),
                                              (ErrorCode.MESSAGE_SEND_FAILED, 500)])
@pytest.mark.parametrize("call", ACTIONS)
def test_whatsapps_refusal_is_the_answer_and_nothing_changes(api, device, call, code: ErrorCode,
                                                             status: int) -> None:
    message = own(device)
    with RunnerSide(device.pk, refusing(code)):
        failed(call(api, url(device, message.wa_id)), status, code.api_code)
    message.refresh_from_db()
    assert (message.body, message.edited_at, message.revoked_at) == ("first draft", None, None)
    assert not Reaction.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("call", ACTIONS)
def test_no_answer_from_the_runner_is_upstream_timeout(api, device, monkeypatch, call) -> None:
    monkeypatch.setattr(actions, "ACTION_TIMEOUT_S", 0.05)
    failed(call(api, url(device, own(device).wa_id)), 504, "upstream_timeout")


# --- mark read ------------------------------------------------------------------------------------


def read_url(device, jid: str = PHONE) -> str:
    return f"/devices/{device.pk}/chats/{jid}/read"


@pytest.mark.django_db
def test_mark_a_chat_read_offline(api, app) -> None:
    device = make_device(app)
    first, second = inbound(device, "IN1"), inbound(device, "IN2")
    own(device)
    response = api.post(read_url(device), raw="")  # no body at all: the whole chat
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"chat_jid": PHONE, "marked": 2, "receipts": "offline", "ignored": [],
                                       "error_code": None}
    assert all(Message.objects.get(pk=m.pk).read_at for m in (first, second))
    again = api.post(read_url(device), {})
    assert again.json()["data"]["marked"] == 0
    assert again.json()["data"]["receipts"] == "not_needed"


@pytest.mark.django_db(transaction=True)
def test_mark_some_messages_read_with_receipts(api, device, settings) -> None:
    settings.SEND_READ_RECEIPTS = True
    first, second = inbound(device, "IN1"), inbound(device, "IN2")
    with RunnerSide(device.pk, lambda command: command.succeed({})) as runner:
        response = api.post(read_url(device, "+1 555 123 4567"), {"message_ids": ["IN1", "NOPE"]})
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"chat_jid": PHONE, "marked": 1, "receipts": "sent", "ignored": ["NOPE"],
                                       "error_code": None}
    assert runner.handled[0].kind == CommandKind.MARK_READ
    assert Message.objects.get(pk=first.pk).read_at is not None
    assert Message.objects.get(pk=second.pk).read_at is None


@pytest.mark.django_db
def test_receipts_can_be_disabled(api, device, settings) -> None:
    settings.SEND_READ_RECEIPTS = False
    inbound(device)
    assert api.post(read_url(device), raw="").json()["data"]["receipts"] == "disabled"
    nothing_queued()


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [({"message_ids": []}, "message_ids"),
                                             ({"message_ids": "IN1"}, "message_ids"),
                                             ({"message_ids": [" "]}, "message_ids"),
                                             ({"message_ids": ["IN\u0000"]}, "message_ids"),
                                             ({"ids": ["IN1"]}, "ids")])
def test_mark_read_bad_body(api, device, body: dict, field: str) -> None:
    inbound(device)
    failed(api.post(read_url(device), body), 400, "validation_error", field)


@pytest.mark.django_db
def test_mark_read_bad_or_unknown_chat(api, device) -> None:
    failed(api.post(read_url(device, "not-a-jid@example.com"), {}), 400, "validation_error", "chat")
    failed(api.post(read_url(device, "15550009999@s.whatsapp.net"), {}), 404, "not_found")
    failed(api.post(read_url(device, "1555%00@s.whatsapp.net"), {}), 400, "validation_error", "jid")


@pytest.mark.django_db
def test_mark_read_on_a_destroyed_device(api, device) -> None:
    inbound(device)
    device.destroy()
    failed(api.post(read_url(device), raw=""), 410, "device_destroyed")
