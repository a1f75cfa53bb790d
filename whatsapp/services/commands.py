"""Waiting for a device command's answer (request/reply through the database)."""

from __future__ import annotations

import time
from typing import Any

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import CommandKind, Device, DeviceCommand

POLL_INTERVAL_S = 0.02
CALL_TIMEOUT_S = 20.0


def await_command(command: DeviceCommand, timeout_s: float) -> dict[str, Any]:
    """The command's result once the runner has executed it, or its error raised as the enum's
    member. Past ``timeout_s`` raises ``CONNECTION_TIMEOUT`` (``upstream_timeout``)."""
    deadline = time.monotonic() + timeout_s
    interval = POLL_INTERVAL_S
    while True:
        command.refresh_from_db(fields=["state", "result", "error_code", "error_message"])
        if command.is_finished:
            break
        if time.monotonic() >= deadline:
            raise WhatsAppError(ErrorCode.CONNECTION_TIMEOUT, f"No answer from the device within {timeout_s:g} s.",
                                details={"command": command.kind})
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)
    if command.state == "failed":
        details = (command.result or {}).get("details", {})
        raise WhatsAppError(ErrorCode.lookup(command.error_code or "WHATSAPP_ERROR"),
                            command.error_message or None, details=details)
    return command.result


def live(device: Device) -> Device:
    """The device as stored now, refused with ``MESSAGE_NOT_CONNECTED`` unless its session is up."""
    device.refresh_from_db()
    device.ensure_connected()
    return device


def device_call(device: Device, method: str, *, timeout_s: float | None = None, **args: Any) -> Any:
    """Run one engine operation on the device's runner and return its JSON-ready value.

    ``args`` are passed by name, so they must match the engine port's signature. The command has a
    deadline (``CALL_TIMEOUT_S`` by default): one the runner did not start in time is never executed late.
    """
    timeout_s = CALL_TIMEOUT_S if timeout_s is None else timeout_s
    command = DeviceCommand.enqueue(device.pk, CommandKind.CALL, {"method": method, "args": args},
                                    timeout_s=timeout_s)
    return await_command(command, timeout_s + 1).get("value")
