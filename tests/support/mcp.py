"""Calling MCP tools in-process for unit tests: the dispatcher's whole pipeline (disabled check,
argument validation, connection check, the tool, audit) in the test's own thread, so the test database
and ``RunnerSide`` work as for any service test. End-to-end tests use the official client instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whatsapp.errors import ErrorCode
from whatsapp.mcp.dispatch import Binding, run_sync
from whatsapp.models import Device


@dataclass
class Outcome:
    """A tool result, with shortcuts to what tests look at."""

    raw: dict[str, Any]

    @property
    def is_error(self) -> bool:
        return bool(self.raw.get("isError"))

    @property
    def text(self) -> str:
        return "\n".join(block["text"] for block in self.raw["content"] if block.get("type") == "text")

    @property
    def data(self) -> dict[str, Any]:
        return self.raw.get("structuredContent") or {}

    @property
    def code(self) -> ErrorCode | None:
        error = self.data.get("error") if self.is_error else None
        return ErrorCode.lookup(error["code"]) if error else None

    @property
    def details(self) -> dict[str, Any]:
        return (self.data.get("error") or {}).get("details", {})


def call(device: Device, name: str, /, **arguments: Any) -> Outcome:
    binding = Binding(device_id=device.pk, actor="mcp:test", app_id=device.app_id)
    return Outcome(run_sync(binding, name, arguments))


def ok(device: Device, name: str, /, **arguments: Any) -> Outcome:
    """A call that must succeed."""
    outcome = call(device, name, **arguments)
    assert not outcome.is_error, outcome.text
    return outcome


def refused(device: Device, name: str, code: ErrorCode, /, **arguments: Any) -> Outcome:
    """A call that must fail with ``code``; its text starts with the code and category."""
    outcome = call(device, name, **arguments)
    assert outcome.is_error, outcome.text
    assert outcome.code is code, outcome.text
    assert outcome.text.startswith(f"{code.code} ({code.category})"), outcome.text
    return outcome
