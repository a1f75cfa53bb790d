"""Declaring tools: one :class:`ToolSpec` per tool, registered in the original's order.

A tool module declares its tools with :func:`tool`; the spec carries everything the three places
that describe a tool need (``tools/list``, ``get_tool_info`` and the dispatcher), so they cannot
disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from whatsapp.errors import ErrorCode

#: The tools in seed 000's registration order (reference/mcp-tools.md §2); ``tools/list`` follows it.
ORDER: tuple[str, ...] = (
    "disconnect", "authenticate", "get_connection_status", "send_message", "list_messages",
    "search_messages", "list_chats", "catch_up", "search_contacts", "mark_messages_read", "export_chat_data",
    "request_approval", "check_approvals", "download_media", "send_file", "create_group", "get_group_info",
    "get_joined_groups", "get_group_invite_link", "join_group", "leave_group", "update_group_participants",
    "set_group_name", "set_group_topic", "send_reaction", "edit_message", "delete_message", "get_user_info",
    "is_on_whatsapp", "get_profile_picture", "sync_contact_names", "set_contact_name", "wait_for_message",
    "get_tool_info",
)


@dataclass(frozen=True)
class Param:
    """One argument: its JSON schema (type, bounds, enum, default) and description."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass
class ToolResult:
    """A successful result: labelled plain text, the same facts as ``structuredContent``, and any
    extra content blocks (the QR image, an embedded export) placed before the text."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def to_mcp(self) -> dict[str, Any]:
        return {"content": [*self.blocks, {"type": "text", "text": self.text}], "structuredContent": self.data,
                "isError": False}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    summary: str
    handler: Callable[..., Any]
    params: tuple[Param, ...] = ()
    live: bool = False  # needs a connected session (reference §1.5): checked after argument validation
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    rate: str = ""  # "outbound" or "download": documented here, taken by the handler at step 5 of §1.4
    response: str = ""
    errors: tuple[ErrorCode, ...] = ()
    examples: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    pitfalls: tuple[str, ...] = ()

    @property
    def open_world(self) -> bool:
        """Tools that talk to WhatsApp (authenticate and disconnect may, whatever the state)."""
        return self.live or self.name in ("authenticate", "disconnect", "mark_messages_read")

    def input_schema(self) -> dict[str, Any]:
        properties = {p.name: {**p.schema, "description": p.description} for p in self.params}
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        required = [p.name for p in self.params if p.required]
        if required:
            schema["required"] = required
        return schema

    def description(self, *, disabled: bool = False) -> str:
        text = self.summary
        if disabled:
            text = ("[DISABLED by the operator's DISABLED_TOOLS policy: calls fail with PERMISSION_TOOL_DISABLED] "
                    + text)
        if self.name != "get_tool_info":
            text += (f" Call get_tool_info with tool_name \"{self.name}\" for examples, errors and the response"
                     " format.")
        return text

    def annotations(self) -> dict[str, Any]:
        return {"readOnlyHint": self.read_only, "destructiveHint": self.destructive,
                "idempotentHint": self.idempotent, "openWorldHint": self.open_world}


REGISTRY: dict[str, ToolSpec] = {}


def tool(name: str, summary: str, *params: Param, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated handler as tool ``name``. The handler takes a :class:`~whatsapp.mcp.calls.ToolCall`
    and returns a :class:`ToolResult` (or raises ``WhatsAppError``); it may be ``async``."""
    if name not in ORDER:
        raise ValueError(f"{name!r} is not one of the 34 tools")

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise ValueError(f"tool {name!r} registered twice")
        REGISTRY[name] = ToolSpec(name=name, summary=summary, handler=handler, params=params, **options)
        return handler

    return register


def tools() -> list[ToolSpec]:
    """Every registered tool, in registration order (importing the tool modules registers them)."""
    from whatsapp.mcp import tools as _modules  # noqa: F401  (registers)

    return [REGISTRY[name] for name in ORDER if name in REGISTRY]


def lines(*pairs: tuple[str, Any]) -> str:
    """Labelled lines (``Label: value``), skipping empty values, so a model or a regex finds each fact."""
    return "\n".join(f"{label}: {value}" for label, value in pairs if value not in (None, ""))


# Parameter shapes the reference uses over and over.
def text(name: str, description: str, *, required: bool = False, max_length: int | None = None,
         min_length: int | None = None) -> Param:
    schema: dict[str, Any] = {"type": "string"}
    if max_length is not None:
        schema["maxLength"] = max_length
    if min_length is not None:
        schema["minLength"] = min_length
    return Param(name, schema, description, required)


def integer(name: str, description: str, *, minimum: int, maximum: int | None = None,
            default: int | None = None, kind: str = "integer") -> Param:
    schema: dict[str, Any] = {"type": kind, "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    if default is not None:
        schema["default"] = default
    return Param(name, schema, description)


def flag(name: str, description: str, *, default: bool | None = False) -> Param:
    schema: dict[str, Any] = {"type": "boolean"}
    if default is not None:
        schema["default"] = default
    return Param(name, schema, description)


def choice(name: str, description: str, options: tuple[str, ...], *, required: bool = False,
           default: str | None = None) -> Param:
    schema: dict[str, Any] = {"type": "string", "enum": list(options)}
    if default is not None:
        schema["default"] = default
    return Param(name, schema, description, required)


def strings(name: str, description: str, *, required: bool = False, min_items: int = 0, max_items: int,
            max_length: int | None = None) -> Param:
    item: dict[str, Any] = {"type": "string"}
    if max_length is not None:
        item["maxLength"] = max_length
    schema: dict[str, Any] = {"type": "array", "items": item, "maxItems": max_items}
    if min_items:
        schema["minItems"] = min_items
    return Param(name, schema, description, required)
