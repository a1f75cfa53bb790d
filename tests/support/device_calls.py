"""Helpers for unit tests of services that ask the device's runner something (``call`` commands)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from whatsapp.errors import WhatsAppError
from whatsapp.models import CommandKind, DeviceCommand


def returning(value: object) -> Callable[[DeviceCommand], None]:
    """A fake runner's answer: the engine operation returned ``value``."""
    return lambda command: command.succeed({"value": value})


def refused(call: Callable[..., object], *args: object) -> WhatsAppError:
    """The error ``call(*args)`` raises — having queued nothing for the runner."""
    with pytest.raises(WhatsAppError) as excinfo:
        call(*args)
    assert not DeviceCommand.objects.exists(), "nothing is queued for a refused request"
    return excinfo.value


def call_of(command: DeviceCommand) -> tuple[str, dict]:
    """The engine method and arguments a ``call`` command asks for."""
    assert command.kind == CommandKind.CALL
    assert command.deadline is not None
    return command.payload["method"], command.payload["args"]
