"""The device command queue: enqueue, claim (oldest first, by kind, never late), results, and
recovery after a runner crash."""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import patch

import pytest
from django.utils import timezone

from tests.factories import make_chat, make_device, make_message
from whatsapp.errors import ErrorCode
from whatsapp.models import CommandKind, CommandState, DeliveryStatus, Device, DeviceCommand, Direction
from whatsapp.models.commands import MAX_ATTEMPTS

pytestmark = pytest.mark.django_db

K = CommandKind


def enqueue(device: Device, kind: str = K.SEND, **kwargs) -> DeviceCommand:
    return DeviceCommand.enqueue(device.pk, kind, **kwargs)


def running(device: Device, kind: str, attempts: int = 1) -> DeviceCommand:
    command = enqueue(device, kind)
    DeviceCommand.objects.filter(pk=command.pk).update(state=CommandState.RUNNING, attempts=attempts)
    return command


def stored(command: DeviceCommand) -> DeviceCommand:
    return DeviceCommand.objects.get(pk=command.pk)


def expire(command: DeviceCommand) -> None:
    DeviceCommand.objects.filter(pk=command.pk).update(deadline=timezone.now() - timedelta(seconds=1))


# --- enqueue ----------------------------------------------------------------------------------


def test_enqueue_stores_a_pending_command() -> None:
    device = make_device()
    command = enqueue(device, K.PAIR_PHONE, payload={"phone": "15551234567"})
    command = stored(command)
    assert (command.state, command.attempts, command.payload) == (CommandState.PENDING, 0, {"phone": "15551234567"})
    assert command.deadline is None
    assert not command.is_finished


def test_enqueue_with_a_timeout_sets_the_deadline() -> None:
    device = make_device()
    moment = timezone.now()
    with patch("django.utils.timezone.now", return_value=moment):
        command = enqueue(device, K.LINK, timeout_s=30)
    assert stored(command).deadline == moment + timedelta(seconds=30)


# --- claim ------------------------------------------------------------------------------------


def test_claim_takes_pending_commands_oldest_first() -> None:
    device = make_device()
    first, second = enqueue(device), enqueue(device, K.MARK_READ)
    claimed = DeviceCommand.claim(device.pk)
    assert [c.pk for c in claimed] == [first.pk, second.pk]
    for command in claimed:
        assert command.state == CommandState.RUNNING
        assert command.attempts == 1
        assert command.started_at is not None


def test_claim_respects_the_limit() -> None:
    device = make_device()
    commands = [enqueue(device) for _ in range(3)]
    assert [c.pk for c in DeviceCommand.claim(device.pk, limit=2)] == [c.pk for c in commands[:2]]
    assert stored(commands[2]).state == CommandState.PENDING


def test_a_claimed_command_is_not_claimed_again() -> None:
    device = make_device()
    enqueue(device)
    assert len(DeviceCommand.claim(device.pk)) == 1
    assert DeviceCommand.claim(device.pk) == []


def test_claim_only_takes_the_devices_own_commands() -> None:
    device, other = make_device(), make_device()
    theirs = enqueue(other)
    assert DeviceCommand.claim(device.pk) == []
    assert stored(theirs).state == CommandState.PENDING


def test_claim_by_kind_leaves_other_kinds_pending() -> None:
    device = make_device()
    send, link = enqueue(device, K.SEND), enqueue(device, K.LINK)
    claimed = DeviceCommand.claim(device.pk, kinds=(K.LINK, K.LOGOUT))
    assert [c.pk for c in claimed] == [link.pk]
    assert stored(send).state == CommandState.PENDING


def test_a_command_past_its_deadline_fails_instead_of_running_late() -> None:
    device = make_device()
    late = enqueue(device, K.PAIR_PHONE, timeout_s=30)
    expire(late)
    assert DeviceCommand.claim(device.pk) == []
    late = stored(late)
    assert late.state == CommandState.FAILED
    assert late.error_code == ErrorCode.CONNECTION_TIMEOUT.code
    assert late.attempts == 0
    assert late.finished_at is not None


def test_a_command_within_its_deadline_is_claimed() -> None:
    device = make_device()
    command = enqueue(device, K.LINK, timeout_s=30)
    assert [c.pk for c in DeviceCommand.claim(device.pk)] == [command.pk]


def test_claim_by_kind_does_not_expire_other_kinds() -> None:
    device = make_device()
    late_pair = enqueue(device, K.PAIR_PHONE, timeout_s=30)
    expire(late_pair)
    DeviceCommand.claim(device.pk, kinds=(K.LINK,))
    assert stored(late_pair).state == CommandState.PENDING


def test_expired_and_fresh_commands_are_told_apart() -> None:
    device = make_device()
    late, fresh = enqueue(device, K.LINK, timeout_s=30), enqueue(device, K.LOGOUT, timeout_s=30)
    expire(late)
    assert [c.pk for c in DeviceCommand.claim(device.pk)] == [fresh.pk]
    assert stored(late).state == CommandState.FAILED


# --- results ----------------------------------------------------------------------------------


def test_succeed_stores_the_result() -> None:
    device = make_device()
    [command] = DeviceCommand.claim(enqueue(device).device_id)
    command.succeed({"message_id": "3EB0ABC"})
    command = stored(command)
    assert (command.state, command.result) == (CommandState.DONE, {"message_id": "3EB0ABC"})
    assert command.is_finished
    assert command.finished_at is not None


def test_fail_stores_the_code_message_and_details() -> None:
    device = make_device()
    [command] = DeviceCommand.claim(enqueue(device).device_id)
    command.fail(ErrorCode.MESSAGE_SEND_FAILED, "nope", {"to": "x"})
    command = stored(command)
    assert command.state == CommandState.FAILED
    assert command.error_code == "MESSAGE_SEND_FAILED"
    assert command.error_message == "nope"
    assert command.result == {"details": {"to": "x"}}
    assert command.is_finished


def test_fail_without_a_message_uses_the_members_message() -> None:
    device = make_device()
    command = enqueue(device)
    command.fail(ErrorCode.MESSAGE_NOT_CONNECTED)
    assert stored(command).error_message == ErrorCode.MESSAGE_NOT_CONNECTED.message


def test_a_requeued_command_is_claimed_again() -> None:
    device = make_device()
    [command] = DeviceCommand.claim(enqueue(device).device_id)
    command.requeue()
    assert stored(command).state == CommandState.PENDING
    [again] = DeviceCommand.claim(device.pk)
    assert (again.pk, again.attempts) == (command.pk, 2)


# --- recovery after a crash -------------------------------------------------------------------


@pytest.mark.parametrize("kind", [K.SEND, K.REACT, K.EDIT, K.REVOKE, K.MARK_READ, K.LINK])
def test_an_interrupted_retryable_command_is_requeued(kind: str) -> None:
    device = make_device()
    command = running(device, kind)
    assert DeviceCommand.recover_interrupted(device.pk) == (1, 0)
    assert stored(command).state == CommandState.PENDING


@pytest.mark.parametrize("kind", [K.PAIR_PHONE, K.LOGOUT, K.CALL])
def test_an_interrupted_unsafe_command_fails_with_connection_lost(kind: str) -> None:
    device = make_device()
    command = running(device, kind)
    assert DeviceCommand.recover_interrupted(device.pk) == (0, 1)
    command = stored(command)
    assert command.state == CommandState.FAILED
    assert command.error_code == ErrorCode.CONNECTION_LOST.code
    assert command.finished_at is not None


def test_a_command_interrupted_too_often_fails() -> None:
    device = make_device()
    retried, worn_out = running(device, K.SEND, MAX_ATTEMPTS - 1), running(device, K.SEND, MAX_ATTEMPTS)
    assert DeviceCommand.recover_interrupted(device.pk) == (1, 1)
    assert stored(retried).state == CommandState.PENDING
    assert stored(worn_out).state == CommandState.FAILED


def test_recovery_leaves_pending_finished_and_other_devices_commands_alone() -> None:
    device, other = make_device(), make_device()
    pending = enqueue(device)
    [done] = DeviceCommand.claim(enqueue(make_device()).device_id)
    done.succeed()
    theirs = running(other, K.LOGOUT)
    assert DeviceCommand.recover_interrupted(device.pk) == (0, 0)
    assert stored(pending).state == CommandState.PENDING
    assert stored(done).state == CommandState.DONE
    assert stored(theirs).state == CommandState.RUNNING


def test_a_send_failed_by_recovery_fails_its_message_too() -> None:
    """The outbox promise: a message ends queued (to be sent), sent or failed — never queued with no
    command left to send it."""
    device = make_device()
    message = make_message(device, make_chat(device), direction=Direction.OUTBOUND, from_me=True,
                           status=DeliveryStatus.QUEUED)
    command = DeviceCommand.enqueue(device.pk, K.SEND, {"to": message.chat.jid}, message_id=message.pk)
    DeviceCommand.objects.filter(pk=command.pk).update(state=CommandState.RUNNING, attempts=MAX_ATTEMPTS)
    DeviceCommand.recover_interrupted(device.pk)
    assert stored(command).state == CommandState.FAILED
    message.refresh_from_db()
    assert message.status == DeliveryStatus.FAILED
    assert message.error_code == ErrorCode.CONNECTION_LOST.code
