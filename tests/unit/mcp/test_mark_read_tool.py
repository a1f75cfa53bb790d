"""mark_messages_read over MCP (reference/mcp-tools.md §2.10): a whole chat with its twins, or exact IDs;
offline it marks locally, connected it sends receipts; other chats' and disallowed IDs are skipped and
reported, never a refusal of the whole call; own messages are never counted."""

from __future__ import annotations

import pytest
from django.utils import timezone

import whatsapp.mcp.tools  # noqa: F401  (registers the tools: dispatch looks names up before importing them)
from tests.factories import RunnerSide, connected_device, make_chat, make_contact, make_device, make_message
from tests.support.mcp import ok, refused
from whatsapp.errors import ErrorCode
from whatsapp.mcp.tooling import REGISTRY
from whatsapp.models import Chat, CommandKind, DeliveryStatus, Device, DeviceCommand, Direction, Message
from whatsapp.services import actions

PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
OTHER = "15559990000@s.whatsapp.net"
OWN = "15550001111@s.whatsapp.net"
GROUP = "120363041234567890@g.us"


@pytest.fixture(autouse=True)
def defaults(settings):
    settings.ALLOWED_CONTACTS = []
    settings.DISABLED_TOOLS = []
    settings.SEND_READ_RECEIPTS = True


def inbound(device: Device, chat: Chat, wa_id: str, **fields) -> Message:
    fields.setdefault("sender_jid", chat.jid)
    return make_message(device, chat, wa_id, direction=Direction.INBOUND, body="hi", **fields)


def own(device: Device, chat: Chat, wa_id: str) -> Message:
    return make_message(device, chat, wa_id, direction=Direction.OUTBOUND, from_me=True, sender_jid=OWN,
                        status=DeliveryStatus.SENT, body="mine")


def unread(device: Device) -> set[str]:
    return {m.wa_id for m in Message.objects.filter(device=device) if m.is_unread}


def twins(device: Device) -> tuple[Chat, Chat]:
    contact = make_contact(device, phone_jid=PHONE, lid=LID, custom_name="Alice")
    return make_chat(device, PHONE, contact=contact), make_chat(device, LID, contact=contact)


@pytest.mark.django_db
def test_a_chat_is_marked_with_its_twins_offline() -> None:
    device = make_device()
    phone_chat, lid_chat = twins(device)
    inbound(device, phone_chat, "P1")
    inbound(device, lid_chat, "L1")
    inbound(device, lid_chat, "OLD", read_at=timezone.now())
    inbound(device, phone_chat, "HIST", from_history=True)
    own(device, phone_chat, "MINE")
    other = make_chat(device, OTHER, name="Bob")
    inbound(device, other, "B1")
    Chat.objects.filter(pk=lid_chat.pk).update(unread_count=7)  # a stale counter is recomputed
    outcome = ok(device, "mark_messages_read", chat="Alice")
    assert "Chat: Alice" in outcome.text
    assert "Newly marked read: 2" in outcome.text, "already-read, history and own messages are not counted"
    assert "Receipts: skipped: not connected" in outcome.text
    assert unread(device) == {"B1"}
    assert list(Chat.objects.filter(pk__in=[phone_chat.pk, lid_chat.pk]).values_list("unread_count", flat=True)) \
        == [0, 0]
    data = outcome.data
    assert (data["marked"], data["receipts"], data["receipts_sent"], data["ignored"]) == (2, "offline", False, [])
    assert data["chat"]["jid"] == LID


@pytest.mark.django_db
def test_marking_again_changes_nothing() -> None:
    device = make_device()
    chat = make_chat(device, PHONE, name="Alice")
    inbound(device, chat, "M1")
    ok(device, "mark_messages_read", chat=PHONE)
    outcome = ok(device, "mark_messages_read", chat=PHONE)
    assert "Newly marked read: 0" in outcome.text
    assert "Receipts: none needed" in outcome.text


@pytest.mark.django_db
def test_own_messages_are_never_counted() -> None:
    device = make_device()
    chat = make_chat(device, PHONE, name="Alice")
    own(device, chat, "MINE1")
    own(device, chat, "MINE2")
    outcome = ok(device, "mark_messages_read", chat="Alice", message_ids=["MINE1", "MINE2"])
    assert outcome.data["marked"] == 0
    assert outcome.data["ignored"] == []


@pytest.mark.django_db
def test_with_a_chat_ids_of_other_chats_are_ignored_and_reported() -> None:
    device = make_device()
    phone_chat, lid_chat = twins(device)
    other = make_chat(device, OTHER, name="Bob")
    inbound(device, phone_chat, "P1")
    inbound(device, lid_chat, "L1")
    inbound(device, phone_chat, "P2")
    inbound(device, other, "B1")
    outcome = ok(device, "mark_messages_read", chat=PHONE, message_ids=["P1", "L1", "B1", "NOPE", "P1"])
    assert "Newly marked read: 2" in outcome.text
    assert "Ignored IDs: B1 (in another chat), NOPE (not found)" in outcome.text
    assert unread(device) == {"P2", "B1"}
    assert outcome.data["ignored"] == [{"id": "B1", "reason": "in another chat"}, {"id": "NOPE", "reason": "not found"}]


@pytest.mark.django_db
def test_ids_alone_are_marked_in_their_own_chats() -> None:
    device = make_device()
    alice = make_chat(device, PHONE, name="Alice")
    group = make_chat(device, GROUP, name="Family")
    inbound(device, alice, "A1")
    inbound(device, alice, "A2")
    inbound(device, group, "G1", sender_jid=OTHER)
    outcome = ok(device, "mark_messages_read", message_ids=["A1", "G1", "GONE"])
    assert "Newly marked read: 2" in outcome.text
    assert "Ignored IDs: GONE (not found)" in outcome.text
    assert "Chat:" not in outcome.text
    assert unread(device) == {"A2"}
    assert set(outcome.data["chats"]) == {PHONE, GROUP}


@pytest.mark.django_db
def test_without_a_chat_disallowed_ids_are_skipped_not_refused() -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(allowed_contacts="+15551234567")
    alice = make_chat(device, PHONE, name="Alice")
    bob = make_chat(device, OTHER, name="Bob")
    inbound(device, alice, "A1")
    inbound(device, bob, "B1")
    outcome = ok(device, "mark_messages_read", message_ids=["A1", "B1"])
    assert "Newly marked read: 1" in outcome.text
    assert "Ignored IDs: B1 (chat not allowed)" in outcome.text
    assert unread(device) == {"B1"}
    assert outcome.data["ignored"] == [{"id": "B1", "reason": "chat not allowed", "chat_jid": OTHER}]


@pytest.mark.django_db
def test_a_disallowed_chat_is_refused_by_name() -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(allowed_contacts="+15551234567")
    bob = make_chat(device, OTHER, name="Bob")
    inbound(device, bob, "B1")
    outcome = refused(device, "mark_messages_read", ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, chat="Bob")
    assert OTHER in outcome.text
    assert unread(device) == {"B1"}


@pytest.mark.django_db
def test_a_chat_without_stored_messages_marks_nothing() -> None:
    device = make_device()
    outcome = ok(device, "mark_messages_read", chat="+1 555 123 4567", message_ids=["X1"])
    assert "Newly marked read: 0" in outcome.text
    assert "Ignored IDs: X1 (not in this chat)" in outcome.text


@pytest.mark.django_db
@pytest.mark.parametrize(("arguments", "field"), [
    ({}, "chat"),
    ({"message_ids": []}, "message_ids"),
    ({"chat": PHONE, "message_ids": []}, "message_ids"),
    ({"message_ids": ["  "]}, "message_ids"),
    ({"message_ids": ["X"] * 501}, "message_ids"),
    ({"message_ids": ["x" * 201]}, "message_ids.0"),
    ({"message_ids": "M1"}, "message_ids"),
    ({"chat": ""}, "chat"),
])
def test_bad_arguments(arguments: dict, field: str) -> None:
    device = make_device()
    outcome = refused(device, "mark_messages_read", ErrorCode.VALIDATION_ERROR, **arguments)
    assert outcome.details["field"] == field


@pytest.mark.django_db
def test_resolution_errors() -> None:
    device = make_device()
    make_chat(device, PHONE, name="Sarah Connor")
    make_chat(device, OTHER, name="Sarah McLachlan")
    refused(device, "mark_messages_read", ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, chat="Sarah")
    refused(device, "mark_messages_read", ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, chat="Zebediah")


# --- receipts ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_connected_receipts_are_sent_per_chat_and_sender() -> None:
    device = connected_device()
    chat = make_chat(device, PHONE, name="Alice")
    inbound(device, chat, "M1")
    inbound(device, chat, "M2")
    with RunnerSide(device.pk, lambda command: command.succeed({})) as runner:
        outcome = ok(device, "mark_messages_read", chat="Alice")
    assert "Receipts: sent" in outcome.text
    assert outcome.data["receipts_sent"] is True
    [command] = runner.handled
    assert command.kind == CommandKind.MARK_READ
    assert (command.payload["chat_jid"], command.payload["sender_jid"]) == (PHONE, PHONE)
    assert sorted(command.payload["wa_ids"]) == ["M1", "M2"]


@pytest.mark.django_db(transaction=True)
def test_receipts_are_sent_for_ids_without_a_chat_too() -> None:
    device = connected_device()
    chat = make_chat(device, PHONE, name="Alice")
    inbound(device, chat, "M1")
    with RunnerSide(device.pk, lambda command: command.succeed({})):
        outcome = ok(device, "mark_messages_read", message_ids=["M1"])
    assert "Receipts: sent" in outcome.text


@pytest.mark.django_db
def test_receipts_can_be_turned_off(settings) -> None:
    settings.SEND_READ_RECEIPTS = False
    device = connected_device()
    chat = make_chat(device, PHONE, name="Alice")
    inbound(device, chat, "M1")
    outcome = ok(device, "mark_messages_read", chat="Alice")
    assert "Receipts: skipped: SEND_READ_RECEIPTS is off" in outcome.text
    assert not DeviceCommand.objects.filter(device=device).exists()


@pytest.mark.django_db
def test_receipts_not_confirmed_in_time_are_reported_queued(monkeypatch) -> None:
    monkeypatch.setattr(actions, "RECEIPT_WAIT_S", 0.05)
    device = connected_device()
    chat = make_chat(device, PHONE, name="Alice")
    inbound(device, chat, "M1")
    outcome = ok(device, "mark_messages_read", chat="Alice")
    assert "Receipts: queued" in outcome.text
    assert outcome.data["receipts"] == "pending"


@pytest.mark.django_db(transaction=True)
def test_failed_receipts_are_reported_but_the_marks_stay() -> None:
    device = connected_device()
    chat = make_chat(device, PHONE, name="Alice")
    inbound(device, chat, "M1")
    with RunnerSide(device.pk, lambda command: command.fail(ErrorCode.CONNECTION_LOST)):
        outcome = ok(device, "mark_messages_read", chat="Alice")
    assert "Receipts: failed (CONNECTION_LOST)" in outcome.text
    assert outcome.data["receipt_error"] == "CONNECTION_LOST"
    assert unread(device) == set()


# --- the tool's declaration --------------------------------------------------------------------


@pytest.mark.django_db
def test_it_is_not_read_only_but_idempotent_and_works_offline() -> None:
    spec = REGISTRY["mark_messages_read"]
    assert spec.annotations() == {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True,
                                  "openWorldHint": True}
    assert spec.live is False


@pytest.mark.django_db
def test_a_disabled_mark_is_refused() -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(disabled_tools="mark_messages_read")
    refused(device, "mark_messages_read", ErrorCode.PERMISSION_TOOL_DISABLED, chat=PHONE)
