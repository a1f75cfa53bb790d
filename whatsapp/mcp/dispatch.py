"""One tool call, through the checks every tool shares (reference §1.4): disabled → arguments →
connection → the tool's own checks and work → audit. Whatever happens, the caller gets a tool result
(an ``ErrorCode`` member on failure, never a traceback) and the call leaves one audit row."""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections

from audit.models import AuditLog, Surface
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp.arguments import validate
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import REGISTRY, ToolSpec, tools
from whatsapp.models import Device
from whatsapp.services.policies import disabled_tools_for

logger = logging.getLogger("whatsapp.mcp")

#: Arguments whose values are message text or otherwise private: audited by length only.
PRIVATE_ARGUMENTS = frozenset({"message", "new_text", "caption", "details", "action", "query", "name", "topic",
                               "emoji"})


@dataclass(frozen=True)
class Binding:
    """Who is calling and for which device: fixed for a stdio process, per connection over HTTP."""

    device_id: uuid.UUID
    actor: str  # "mcp:stdio" or "app:<id>"
    app_id: uuid.UUID | None = None


def audit_summary(spec: ToolSpec | None, args: Any) -> dict[str, Any]:
    """The arguments without message bodies: private strings become their length."""
    if not isinstance(args, dict):
        return {}
    summary: dict[str, Any] = {}
    for name, value in args.items():
        enum_value = spec is not None and spec.name == "update_group_participants" and name == "action"
        if name in PRIVATE_ARGUMENTS and isinstance(value, str) and not enum_value:
            summary[name] = f"<{len(value)} chars>"
        elif isinstance(value, list) and len(value) > 20:
            summary[name] = [*value[:20], f"… {len(value) - 20} more"]
        else:
            summary[name] = value
    return summary


def _database_error(exc: DatabaseError) -> WhatsAppError:
    text = str(exc).lower()
    if "locked" in text or "could not obtain lock" in text:
        return WhatsAppError(ErrorCode.DB_LOCKED)
    if ("disk" in text and "full" in text) or "no space" in text:
        return WhatsAppError(ErrorCode.DB_DISK_FULL)
    if "malformed" in text or "corrupt" in text:
        return WhatsAppError(ErrorCode.DB_CORRUPT)
    return WhatsAppError(ErrorCode.INTERNAL_ERROR, "The store failed to answer; see the server log.")


def unknown_tool(name: str) -> WhatsAppError:
    names = sorted(spec.name for spec in tools())
    return WhatsAppError(ErrorCode.UNKNOWN_TOOL, f"No tool named {name!r}. Tools: {', '.join(names)}.",
                         details={"tool": name, "tools": names})


def _prepare(binding: Binding, spec: ToolSpec, raw: Any) -> ToolCall:
    """Steps 1-3 of §1.4: disabled, arguments, connection."""
    device = Device.objects.select_related("app").get(pk=binding.device_id)
    if spec.name in disabled_tools_for(device):
        raise WhatsAppError(ErrorCode.PERMISSION_TOOL_DISABLED,
                            f"The tool {spec.name} is disabled on this device (DISABLED_TOOLS).",
                            details={"tool": spec.name})
    args = validate(spec, raw)
    if spec.live:
        device.ensure_connected()
    return ToolCall(device=device, spec=spec, args=args)


def _spec(name: str) -> ToolSpec:
    spec = {s.name: s for s in tools()}.get(name)  # tools() registers them on first use
    if spec is None:
        raise unknown_tool(name)
    return spec


def _failure(name: str, exc: BaseException) -> WhatsAppError:
    """Any exception as the enum's member; a bug is logged with its traceback, never shown."""
    if isinstance(exc, WhatsAppError):
        return exc
    if isinstance(exc, DatabaseError):
        logger.exception("tool %s failed on the database", name, exc_info=exc)
        return _database_error(exc)
    logger.error("tool %s failed", name, exc_info=exc)
    return WhatsAppError(ErrorCode.INTERNAL_ERROR, f"The tool {name} failed unexpectedly; see the server log.")


def _audit(binding: Binding, name: str, raw: Any, call: ToolCall | None, error: WhatsAppError | None,
           started: float) -> None:
    summary = audit_summary(REGISTRY.get(name), raw)
    if call is not None and call.audit:
        summary = {**summary, **call.audit}
    details = {"arguments": summary, "elapsed_ms": int((time.monotonic() - started) * 1000)}
    try:
        AuditLog.record(actor=binding.actor, surface=Surface.MCP, action=name, success=error is None,
                        error_code=error.code.code if error else "", device_id=binding.device_id,
                        app_id=binding.app_id, details=details)
    except DatabaseError:
        logger.exception("audit row for %s could not be written", name)


def run_sync(binding: Binding, name: str, raw: Any, *, feed: Any = None) -> dict[str, Any]:
    """The whole pipeline of a synchronous tool in the calling thread (tests call it directly)."""
    started = time.monotonic()
    call: ToolCall | None = None
    error: WhatsAppError | None = None
    try:
        spec = _spec(name)
        call = _prepare(binding, spec, raw)
        call.feed = feed
        result = spec.handler(call).to_mcp()
    except Exception as exc:
        error = _failure(name, exc)
        result = error.to_mcp()
    _audit(binding, name, raw, call, error, started)
    return result


def _in_thread(fn: Any, *args: Any) -> Any:
    def run() -> Any:
        try:
            return fn(*args)
        finally:
            close_old_connections()

    return sync_to_async(run, thread_sensitive=False)()


async def call_tool(binding: Binding, name: str, raw: Any, *, feed: Any = None) -> dict[str, Any]:
    """Run tool ``name`` for ``binding`` and return the MCP ``CallToolResult`` as a dict. Synchronous
    tools run in a worker thread; ``async`` ones (wait_for_message) on the event loop."""
    spec = {s.name: s for s in tools()}.get(name)
    if spec is None or not inspect.iscoroutinefunction(spec.handler):
        return await _in_thread(lambda: run_sync(binding, name, raw, feed=feed))
    started = time.monotonic()
    call: ToolCall | None = None
    error: WhatsAppError | None = None
    try:
        call = await _in_thread(_prepare, binding, spec, raw)
        call.feed = feed
        result = (await spec.handler(call)).to_mcp()
    except Exception as exc:
        error = _failure(name, exc)
        result = error.to_mcp()
    await _in_thread(_audit, binding, name, raw, call, error, started)
    return result
