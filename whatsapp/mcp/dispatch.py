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
from whatsapp.mcp.tooling import REGISTRY, ToolResult, ToolSpec, tools
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
    """Steps 1-3 of §1.4, in a worker thread (they read the database)."""
    try:
        device = Device.objects.select_related("app").get(pk=binding.device_id)
        if spec.name in disabled_tools_for(device):
            raise WhatsAppError(ErrorCode.PERMISSION_TOOL_DISABLED,
                                f"The tool {spec.name} is disabled on this device (DISABLED_TOOLS).",
                                details={"tool": spec.name})
        args = validate(spec, raw)
        if spec.live:
            device.ensure_connected()
        return ToolCall(device=device, spec=spec, args=args)
    finally:
        close_old_connections()


def _run_sync(spec: ToolSpec, call: ToolCall) -> ToolResult:
    try:
        return spec.handler(call)
    finally:
        close_old_connections()


def _audit(binding: Binding, spec_name: str, summary: dict[str, Any], error: WhatsAppError | None,
           elapsed_ms: int) -> None:
    try:
        AuditLog.record(actor=binding.actor, surface=Surface.MCP, action=spec_name, success=error is None,
                        error_code=error.code.code if error else "", device_id=binding.device_id,
                        app_id=binding.app_id, details={"arguments": summary, "elapsed_ms": elapsed_ms})
    except DatabaseError:
        logger.exception("audit row for %s could not be written", spec_name)
    finally:
        close_old_connections()


async def call_tool(binding: Binding, name: str, raw: Any, *, feed: Any = None) -> dict[str, Any]:
    """Run tool ``name`` for ``binding`` and return the MCP ``CallToolResult`` as a dict."""
    started = time.monotonic()
    spec = REGISTRY.get(name) if name in {s.name for s in tools()} else None
    error: WhatsAppError | None = None
    result: dict[str, Any]
    call: ToolCall | None = None
    try:
        if spec is None:
            raise unknown_tool(name)
        call = await sync_to_async(_prepare, thread_sensitive=False)(binding, spec, raw)
        call.feed = feed
        if inspect.iscoroutinefunction(spec.handler):
            outcome = await spec.handler(call)
        else:
            outcome = await sync_to_async(_run_sync, thread_sensitive=False)(spec, call)
        result = outcome.to_mcp()
    except WhatsAppError as exc:
        error = exc
    except DatabaseError as exc:
        logger.exception("tool %s failed on the database", name)
        error = _database_error(exc)
    except Exception:  # a bug: the client gets the enum's INTERNAL_ERROR, the log gets the traceback
        logger.exception("tool %s failed", name)
        error = WhatsAppError(ErrorCode.INTERNAL_ERROR, f"The tool {name} failed unexpectedly; see the server log.")
    if error is not None:
        result = error.to_mcp()
    summary = audit_summary(spec, raw)
    if call is not None and call.audit:
        summary = {**summary, **call.audit}
    elapsed_ms = int((time.monotonic() - started) * 1000)
    await sync_to_async(_audit, thread_sensitive=False)(binding, name, summary, error, elapsed_ms)
    return result
