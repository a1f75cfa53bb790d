"""Reacting to, editing, revoking and marking read stored messages: refusals decided before anything
is queued, the exact command the runner gets, and the store and event log after its answer (the same
shape as the inbound equivalents)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tests.factories import RunnerSide, connected_device, make_chat, make_contact, make_device, make_message
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import (
    Chat,
    CommandKind,
    CommandState,
    DeliveryStatus,
    Device,
    DeviceCommand,
    DeviceEvent,
    Direction,
    EventType,
    Message,
    MessageType,
    Reaction,
)
from whatsapp.services import actions
from whatsapp.services.actions import (
    ReceiptOutcome,
    edit_message,
    is_single_emoji,
    mark_read,
    react,
    revoke_message,
)
from whatsapp.services.messages import MAX_TEXT_CHARS

PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
OWN = "15550001111@s.whatsapp.net"
GROUP = "120363041234567890@g.us"
MEMBER = "15145550102@s.whatsapp.net"
OTHER_MEMBER = "15145550103@s.whatsapp.net"
ACTION_ID = re.compile(r"^3EB0[0-9A-F]{18}$")
WHEN = timezone.now().replace(microsecond=0) - timedelta(seconds=5)


def inbound(device: Device, wa_id: str = "IN1", chat: Chat | None = None, **fields) -> Message:
    chat = chat or Chat.objects.filter(device=device, jid=PHONE).first() or make_chat(device, PHONE)
    fields.setdefault("sender_jid", chat.jid if chat.kind == "direct" else MEMBER)
    return make_message(device, chat, wa_id, direction=Direction.INBOUND, body="hello", **fields)


def own(device: Device, wa_id: str = "OUT1", **fields) -> Message:
    chat = Chat.objects.filter(device=device, jid=PHONE).first() or make_chat(device, PHONE)
    fields.setdefault("status", DeliveryStatus.SENT)
    return make_message(device, chat, wa_id, direction=Direction.OUTBOUND, from_me=True, sender_jid=OWN,
                        body="first draft", **fields)


def refused(call, *args) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as excinfo:
        call(*args)
    assert not DeviceCommand.objects.exists(), "nothing is queued for a refused request"
    return excinfo.value


def accept(command: DeviceCommand) -> None:
    """The runner's answer to a react/edit/revoke: WhatsApp's id and time of the action."""
    command.succeed({"wa_id": command.payload["wa_id"], "timestamp": WHEN.isoformat()})


def events(device: Device, type: str) -> list[dict]:
    return list(DeviceEvent.objects.filter(device=device, type=type).order_by("sequence")
                .values_list("payload", flat=True))


# --- emoji ------------------------------------------------------------------------------------


@pytest.mark.parametrize("emoji", [
    "👍", "❤️", "❤", "👍🏽", "👨‍👩‍👧‍👦", "🧑🏽‍💻", "❤️‍🔥", "🇨🇦", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "1️⃣", "#⃣", "©️", "⭐",
    "\U0001f9d1\U0001f3fb\u200d\u2764\ufe0f\u200d\U0001f48b\u200d\U0001f9d1\U0001f3fc",  # kiss, two skin tones
])
def test_one_emoji_is_one_grapheme_cluster_however_long(emoji: str) -> None:
    assert is_single_emoji(emoji)


@pytest.mark.parametrize("text", ["", "a", "1", ":)", "👍👍", "👍 ", "🇨", "🏽", "\u200d👍", "👍\u200d", "ok👍",
                                  "\u200d".join(["👍"] * 9)])
def test_anything_else_is_not_one_emoji(text: str) -> None:
    assert not is_single_emoji(text)


# --- react: refusals --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("emoji", ["ok", "👍👍", ":)", None])
def test_a_reaction_must_be_one_emoji(emoji: str) -> None:
    device = connected_device()
    error = refused(react, device, inbound(device).wa_id, emoji)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "emoji")


@pytest.mark.django_db
@pytest.mark.parametrize("call", [lambda d, m: react(d, m, "👍"), lambda d, m: edit_message(d, m, "x"),
                                  revoke_message])
def test_a_message_id_is_required(call) -> None:
    error = refused(call, connected_device(), "  ")
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "message_id")


@pytest.mark.django_db
@pytest.mark.parametrize("call", [lambda d, m: react(d, m, "👍"), lambda d, m: edit_message(d, m, "x"),
                                  revoke_message])
def test_actions_need_a_connected_device(call) -> None:
    device = make_device()
    message = own(device)
    assert refused(call, device, message.wa_id).code is ErrorCode.MESSAGE_NOT_CONNECTED


@pytest.mark.django_db
def test_the_connection_is_decided_from_the_stored_device() -> None:
    device = connected_device()
    message = inbound(device)
    Device.objects.filter(pk=device.pk).update(connection_state="reconnecting")
    assert refused(react, device, message.wa_id, "👍").code is ErrorCode.MESSAGE_NOT_CONNECTED


@pytest.mark.django_db
@pytest.mark.parametrize("call", [lambda d, m: react(d, m, "👍"), lambda d, m: edit_message(d, m, "x"),
                                  revoke_message])
def test_an_unknown_message_is_not_found_and_its_sender_never_guessed(call) -> None:
    device = connected_device()
    other_device = connected_device()
    elsewhere = own(other_device, "THEIRS")
    assert refused(call, device, "NOPE").code is ErrorCode.NOT_FOUND
    assert refused(call, device, elsewhere.wa_id).code is ErrorCode.NOT_FOUND


@pytest.mark.django_db
def test_a_deleted_message_takes_no_reaction() -> None:
    device = connected_device()
    message = inbound(device, revoked_at=timezone.now())
    assert refused(react, device, message.wa_id, "👍").code is ErrorCode.VALIDATION_ERROR


# --- edit and revoke: refusals ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("call", [lambda d, m: edit_message(d, m, "new"), revoke_message])
def test_only_own_messages_can_be_edited_or_revoked(call) -> None:
    device = connected_device()
    error = refused(call, device, inbound(device).wa_id)
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert "sent by this account" in error.message


@pytest.mark.django_db
@pytest.mark.parametrize("status", [DeliveryStatus.QUEUED, DeliveryStatus.FAILED])
@pytest.mark.parametrize("call", [lambda d, m: edit_message(d, m, "new"), revoke_message])
def test_a_message_that_never_reached_whatsapp_cannot_be_edited_or_revoked(call, status: str) -> None:
    device = connected_device()
    error = refused(call, device, own(device, status=status).wa_id)
    assert (error.code, error.details["status"]) == (ErrorCode.VALIDATION_ERROR, status)


@pytest.mark.django_db
@pytest.mark.parametrize("call", [lambda d, m: edit_message(d, m, "new"), revoke_message])
def test_a_revoked_message_cannot_be_edited_or_revoked_again(call) -> None:
    device = connected_device()
    assert refused(call, device, own(device, revoked_at=timezone.now()).wa_id).code is ErrorCode.VALIDATION_ERROR


@pytest.mark.django_db
def test_only_text_messages_can_be_edited() -> None:
    device = connected_device()
    error = refused(edit_message, device, own(device, type=MessageType.IMAGE).wa_id, "new caption")
    assert (error.code, error.details["type"]) == (ErrorCode.VALIDATION_ERROR, "image")


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["", "   "])
def test_an_edit_needs_text(text: str) -> None:
    device = connected_device()
    error = refused(edit_message, device, own(device).wa_id, text)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "text")


@pytest.mark.django_db
def test_an_edit_is_limited_like_a_message_even_offline() -> None:
    device = make_device()
    error = refused(edit_message, device, own(device).wa_id, "x" * (MAX_TEXT_CHARS + 1))
    assert (error.code, error.details["max"]) == (ErrorCode.MESSAGE_TOO_LONG, MAX_TEXT_CHARS)


# --- react, edit, revoke: through the runner ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_reaction_is_sent_then_stored_as_ours() -> None:
    device = connected_device()
    message = inbound(device)
    with RunnerSide(device.pk, accept) as runner:
        result = react(device, message.wa_id, "👍")
    [command] = runner.handled
    assert command.kind == CommandKind.REACT
    assert ACTION_ID.match(command.payload["wa_id"])
    assert command.payload == {"chat_jid": PHONE, "target_wa_id": "IN1", "target_sender_jid": PHONE, "emoji": "👍",
                               "wa_id": command.payload["wa_id"]}
    assert command.payload["wa_id"] != message.wa_id
    assert command.deadline is not None
    assert (result.emoji, result.removed, result.action_wa_id, result.timestamp, result.chat_jid) == (
        "👍", False, command.payload["wa_id"], WHEN, PHONE)
    reaction = Reaction.objects.get(message=message)
    assert (reaction.sender_jid, reaction.emoji, reaction.timestamp) == (OWN, "👍", WHEN)
    [event] = events(device, EventType.REACTION)
    assert event == {"message_id": "IN1", "chat_jid": PHONE, "sender_jid": OWN, "emoji": "👍", "removed": False,
                     "is_from_me": True, "timestamp": event["timestamp"]}
    assert parse_datetime(event["timestamp"]) == WHEN


@pytest.mark.django_db(transaction=True)
def test_an_empty_emoji_removes_our_reaction_only() -> None:
    device = connected_device()
    message = inbound(device)
    Reaction.objects.create(message=message, sender_jid=OWN, emoji="😂")
    Reaction.objects.create(message=message, sender_jid=PHONE, emoji="❤️")
    with RunnerSide(device.pk, accept) as runner:
        result = react(device, message.wa_id, "")
    assert runner.handled[0].payload["emoji"] == ""
    assert result.removed
    assert list(Reaction.objects.filter(message=message).values_list("sender_jid", flat=True)) == [PHONE]
    assert events(device, EventType.REACTION)[0]["removed"] is True


@pytest.mark.django_db(transaction=True)
def test_a_reaction_in_a_group_is_addressed_to_the_author() -> None:
    device = connected_device()
    message = inbound(device, "G1", chat=make_chat(device, GROUP), sender_jid=MEMBER)
    with RunnerSide(device.pk, accept) as runner:
        react(device, message.wa_id, "🎉")
    assert runner.handled[0].payload["chat_jid"] == GROUP
    assert runner.handled[0].payload["target_sender_jid"] == MEMBER


@pytest.mark.django_db(transaction=True)
def test_a_refused_reaction_changes_nothing() -> None:
    device = connected_device()
    message = inbound(device)
    with RunnerSide(device.pk, lambda c: c.fail(ErrorCode.MESSAGE_SEND_FAILED, "server returned error 479")), \
            pytest.raises(WhatsAppError) as excinfo:
        react(device, message.wa_id, "👍")
    assert excinfo.value.code is ErrorCode.MESSAGE_SEND_FAILED
    assert not Reaction.objects.exists()
    assert not events(device, EventType.REACTION)


@pytest.mark.django_db(transaction=True)
def test_without_a_runner_the_action_times_out_and_is_never_run_late(monkeypatch) -> None:
    monkeypatch.setattr(actions, "ACTION_TIMEOUT_S", 0.2)
    device = connected_device()
    message = inbound(device)
    with pytest.raises(WhatsAppError) as excinfo:
        react(device, message.wa_id, "👍")
    assert excinfo.value.code is ErrorCode.CONNECTION_TIMEOUT
    assert DeviceCommand.claim(device.pk) == []
    assert DeviceCommand.objects.get().state == CommandState.FAILED


@pytest.mark.django_db(transaction=True)
def test_an_edit_is_sent_then_stored() -> None:
    device = connected_device()
    message = own(device)
    with RunnerSide(device.pk, accept) as runner:
        result = edit_message(device, message.wa_id, "final text")
    [command] = runner.handled
    assert command.kind == CommandKind.EDIT
    assert command.payload == {"chat_jid": PHONE, "target_wa_id": "OUT1", "text": "final text",
                               "wa_id": command.payload["wa_id"]}
    assert ACTION_ID.match(command.payload["wa_id"])
    message.refresh_from_db()
    assert (message.body, message.edited_at) == ("final text", WHEN)
    assert result.message.body == "final text"
    [event] = events(device, EventType.MESSAGE_EDITED)
    assert {k: v for k, v in event.items() if k != "timestamp"} == {
        "message_id": "OUT1", "chat_jid": PHONE, "sender_jid": OWN, "text": "final text", "is_from_me": True}


@pytest.mark.django_db(transaction=True)
def test_a_message_typed_on_our_phone_can_be_edited() -> None:
    device = connected_device()
    message = make_message(device, make_chat(device, PHONE), "PHONE1", direction=Direction.OUTBOUND, from_me=True,
                           sender_jid=OWN, status=DeliveryStatus.SENT, body="typo")
    with RunnerSide(device.pk, accept):
        edit_message(device, message.wa_id, "fixed")
    assert Message.objects.get(pk=message.pk).body == "fixed"


@pytest.mark.django_db(transaction=True)
def test_a_refused_edit_changes_nothing() -> None:
    device = connected_device()
    message = own(device)
    with RunnerSide(device.pk, lambda c: c.fail(ErrorCode.MESSAGE_SEND_FAILED)), pytest.raises(WhatsAppError):
        edit_message(device, message.wa_id, "too late")
    message.refresh_from_db()
    assert (message.body, message.edited_at) == ("first draft", None)
    assert not events(device, EventType.MESSAGE_EDITED)


@pytest.mark.django_db(transaction=True)
def test_a_revoke_is_sent_then_stored() -> None:
    device = connected_device()
    message = own(device)
    with RunnerSide(device.pk, accept) as runner:
        result = revoke_message(device, message.wa_id)
    [command] = runner.handled
    assert command.kind == CommandKind.REVOKE
    assert command.payload == {"chat_jid": PHONE, "target_wa_id": "OUT1", "target_sender_jid": OWN,
                               "wa_id": command.payload["wa_id"]}
    assert ACTION_ID.match(command.payload["wa_id"])
    assert Message.objects.get(pk=message.pk).revoked_at == WHEN
    assert result.message.revoked_at == WHEN
    [event] = events(device, EventType.MESSAGE_REVOKED)
    assert {k: v for k, v in event.items() if k != "timestamp"} == {
        "message_id": "OUT1", "chat_jid": PHONE, "sender_jid": OWN, "is_from_me": True}


# --- mark_read --------------------------------------------------------------------------------


def unread_chat(device: Device, jid: str = PHONE, count: int = 3) -> Chat:
    chat = Chat.objects.filter(device=device, jid=jid).first() or make_chat(device, jid)
    for n in range(count):
        inbound(device, f"{jid[:6]}-U{n}", chat=chat, timestamp=timezone.now() - timedelta(minutes=10 - n))
    Chat.objects.filter(pk=chat.pk).update(unread_count=count)
    return chat


@pytest.mark.django_db
@pytest.mark.parametrize("chat", ["", "someone", "123@c.us"])
def test_marking_read_needs_a_valid_chat(chat: str) -> None:
    error = refused(mark_read, make_device(), chat)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "chat")


@pytest.mark.django_db
def test_marking_an_unknown_chat_read_is_not_found() -> None:
    assert refused(mark_read, connected_device(), PHONE).code is ErrorCode.NOT_FOUND


@pytest.mark.django_db
@pytest.mark.parametrize("ids", [[], ["ok", ""], ["x" * 201], [f"ID{n}" for n in range(501)]])
def test_message_ids_are_validated(ids: list[str]) -> None:
    device = connected_device()
    unread_chat(device)
    with pytest.raises(WhatsAppError) as excinfo:
        mark_read(device, PHONE, ids)
    assert (excinfo.value.code, excinfo.value.details["field"]) == (ErrorCode.VALIDATION_ERROR, "message_ids")
    assert not Message.objects.filter(read_at__isnull=False).exists()


@pytest.mark.django_db
def test_offline_the_chat_is_marked_read_locally_and_nothing_is_sent() -> None:
    device = make_device()
    chat = unread_chat(device)
    already = inbound(device, "OLD", chat=chat, read_at=timezone.now() - timedelta(days=1))
    mine = own(device)
    result = mark_read(device, PHONE)
    assert (result.marked, result.receipts, result.ignored) == (3, ReceiptOutcome.OFFLINE, ())
    assert not Message.objects.filter(chat=chat, direction=Direction.INBOUND, read_at__isnull=True).exists()
    assert Message.objects.get(pk=already.pk).read_at == already.read_at  # not marked again
    assert Message.objects.get(pk=mine.pk).read_at is None  # own messages are never unread
    assert Chat.objects.get(pk=chat.pk).unread_count == 0
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
def test_marking_again_counts_nothing() -> None:
    device = make_device()
    unread_chat(device)
    mark_read(device, PHONE)
    result = mark_read(device, PHONE)
    assert (result.marked, result.receipts) == (0, ReceiptOutcome.NOT_NEEDED)


@pytest.mark.django_db
def test_the_unread_count_is_recomputed_from_message_state() -> None:
    device = make_device()
    chat = unread_chat(device, count=4)
    Chat.objects.filter(pk=chat.pk).update(unread_count=9)  # drifted
    result = mark_read(device, PHONE, [f"{PHONE[:6]}-U0", f"{PHONE[:6]}-U2"])
    assert result.marked == 2
    assert Chat.objects.get(pk=chat.pk).unread_count == 2


@pytest.mark.django_db
def test_ids_from_other_chats_are_ignored_and_reported() -> None:
    device = make_device()
    unread_chat(device)
    elsewhere = unread_chat(device, "15559998888@s.whatsapp.net", count=1)
    theirs = Message.objects.get(chat=elsewhere).wa_id
    result = mark_read(device, PHONE, [f"{PHONE[:6]}-U1", theirs, "MISSING", "MISSING"])
    assert (result.marked, result.ignored) == (1, (theirs, "MISSING"))
    assert Message.objects.get(wa_id=theirs).read_at is None
    assert Chat.objects.get(pk=elsewhere.pk).unread_count == 1


@pytest.mark.django_db
def test_history_messages_are_not_unread() -> None:
    device = make_device()
    chat = unread_chat(device, count=1)
    inbound(device, "HIST", chat=chat, from_history=True)
    assert mark_read(device, PHONE).marked == 1
    assert Chat.objects.get(pk=chat.pk).unread_count == 0


@pytest.mark.django_db
def test_a_chat_is_marked_read_with_its_twin() -> None:
    device = make_device()
    person = make_contact(device, phone_jid=PHONE, lid=LID)
    by_phone = unread_chat(device, PHONE, count=2)
    by_lid = unread_chat(device, LID, count=1)
    Chat.objects.filter(pk__in=[by_phone.pk, by_lid.pk]).update(contact=person)
    result = mark_read(device, LID)
    assert (result.chat_jid, result.marked) == (LID, 3)
    assert list(Chat.objects.filter(device=device).values_list("unread_count", flat=True)) == [0, 0]


@pytest.mark.django_db
def test_a_phone_number_names_the_chat() -> None:
    device = make_device()
    unread_chat(device)
    assert mark_read(device, "+1 555 123 4567").marked == 3


@pytest.mark.django_db
def test_no_receipts_when_they_are_disabled(settings) -> None:
    settings.SEND_READ_RECEIPTS = False
    device = connected_device()
    unread_chat(device)
    assert mark_read(device, PHONE).receipts == ReceiptOutcome.DISABLED
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_connected_a_dm_gets_one_receipt_for_the_sender(settings) -> None:
    settings.SEND_READ_RECEIPTS = True
    device = connected_device()
    unread_chat(device)
    with RunnerSide(device.pk, lambda c: c.succeed({})) as runner:
        result = mark_read(device, PHONE)
    assert (result.marked, result.receipts) == (3, ReceiptOutcome.SENT)
    [command] = runner.handled
    assert command.kind == CommandKind.MARK_READ
    read_at = Message.objects.filter(chat__jid=PHONE).values_list("read_at", flat=True).first()
    assert command.payload == {"chat_jid": PHONE, "sender_jid": PHONE,
                               "wa_ids": [f"{PHONE[:6]}-U0", f"{PHONE[:6]}-U1", f"{PHONE[:6]}-U2"],
                               "timestamp": read_at.isoformat()}
    assert command.deadline is not None


@pytest.mark.django_db(transaction=True)
def test_in_a_group_receipts_are_grouped_per_author(settings) -> None:
    settings.SEND_READ_RECEIPTS = True
    device = connected_device()
    group = make_chat(device, GROUP)
    inbound(device, "G1", chat=group, sender_jid=MEMBER)
    inbound(device, "G2", chat=group, sender_jid=OTHER_MEMBER)
    inbound(device, "G3", chat=group, sender_jid=MEMBER)
    with RunnerSide(device.pk, lambda c: c.succeed({}), delay_s=0.2) as runner:
        result = mark_read(device, GROUP)
    assert (result.marked, result.receipts) == (3, ReceiptOutcome.SENT)
    sent = sorted((c.payload["chat_jid"], c.payload["sender_jid"], sorted(c.payload["wa_ids"])) for c in runner.handled)
    assert sent == [(GROUP, MEMBER, ["G1", "G3"]), (GROUP, OTHER_MEMBER, ["G2"])]


@pytest.mark.django_db(transaction=True)
def test_receipts_not_sent_within_the_short_wait_are_pending(settings, monkeypatch) -> None:
    settings.SEND_READ_RECEIPTS = True
    monkeypatch.setattr(actions, "RECEIPT_WAIT_S", 0.1)
    device = connected_device()
    chat = unread_chat(device)
    result = mark_read(device, PHONE)
    assert (result.marked, result.receipts) == (3, ReceiptOutcome.PENDING)
    assert Chat.objects.get(pk=chat.pk).unread_count == 0  # marked locally all the same
    assert DeviceCommand.objects.get().state == CommandState.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_refused_receipt_is_reported_and_the_marks_stay(settings) -> None:
    settings.SEND_READ_RECEIPTS = True
    device = connected_device()
    chat = unread_chat(device)
    with RunnerSide(device.pk, lambda c: c.fail(ErrorCode.CONNECTION_LOST)):
        result = mark_read(device, PHONE)
    assert (result.receipts, result.error_code) == (ReceiptOutcome.FAILED, "CONNECTION_LOST")
    assert Chat.objects.get(pk=chat.pk).unread_count == 0
