"""Request/reply through the database: a caller waits on its command until the runner answers, or
gets CONNECTION_TIMEOUT."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import RunnerSide, make_device
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import CommandKind, CommandState, DeviceCommand
from whatsapp.services.commands import await_command


@pytest.mark.django_db(transaction=True)
def test_returns_the_result_the_runner_wrote() -> None:
    device = make_device()
    command = DeviceCommand.enqueue(device.pk, CommandKind.PAIR_PHONE, {"phone": "15551234567"})
    with RunnerSide(device.pk, lambda c: c.succeed({"code": "ABCD-EFGH"})) as runner:
        assert await_command(command, 5) == {"code": "ABCD-EFGH"}
    assert [c.pk for c in runner.handled] == [command.pk]
    assert command.state == CommandState.DONE


@pytest.mark.django_db(transaction=True)
def test_raises_the_error_the_runner_wrote() -> None:
    device = make_device()
    command = DeviceCommand.enqueue(device.pk, CommandKind.SEND)

    def refuse(c: DeviceCommand) -> None:
        c.fail(ErrorCode.MESSAGE_CONTACT_BLOCKED, "Blocked by 15551234567.", {"to": "15551234567@s.whatsapp.net"})

    with RunnerSide(device.pk, refuse), pytest.raises(WhatsAppError) as excinfo:
        await_command(command, 5)
    assert excinfo.value.code is ErrorCode.MESSAGE_CONTACT_BLOCKED
    assert excinfo.value.message == "Blocked by 15551234567."
    assert excinfo.value.details["to"] == "15551234567@s.whatsapp.net"


@pytest.mark.django_db(transaction=True)
def test_times_out_when_nobody_answers() -> None:
    device = make_device()
    command = DeviceCommand.enqueue(device.pk, CommandKind.LOGOUT)
    started = time.monotonic()
    with pytest.raises(WhatsAppError) as excinfo:
        await_command(command, 0.2)
    elapsed = time.monotonic() - started
    assert excinfo.value.code is ErrorCode.CONNECTION_TIMEOUT
    assert excinfo.value.details["command"] == CommandKind.LOGOUT
    assert 0.2 <= elapsed < 2
    command.refresh_from_db()
    assert command.state == CommandState.PENDING


@pytest.mark.django_db
def test_a_finished_command_answers_at_once() -> None:
    device = make_device()
    command = DeviceCommand.enqueue(device.pk, CommandKind.MARK_READ)
    command.succeed({"ok": True})
    started = time.monotonic()
    assert await_command(DeviceCommand.objects.get(pk=command.pk), 0) == {"ok": True}
    assert time.monotonic() - started < 0.5


@pytest.mark.django_db
def test_a_command_expired_before_it_ran_reports_connection_timeout() -> None:
    device = make_device()
    command = DeviceCommand.enqueue(device.pk, CommandKind.LINK, timeout_s=30)
    DeviceCommand.objects.filter(pk=command.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    DeviceCommand.claim(device.pk)
    with pytest.raises(WhatsAppError) as excinfo:
        await_command(command, 0)
    assert excinfo.value.code is ErrorCode.CONNECTION_TIMEOUT


@pytest.mark.django_db
def test_a_failure_without_a_code_is_a_whatsapp_error() -> None:
    device = make_device()
    command = DeviceCommand.enqueue(device.pk, CommandKind.CALL)
    DeviceCommand.objects.filter(pk=command.pk).update(state=CommandState.FAILED)
    with pytest.raises(WhatsAppError) as excinfo:
        await_command(command, 0)
    assert excinfo.value.code is ErrorCode.WHATSAPP_ERROR
