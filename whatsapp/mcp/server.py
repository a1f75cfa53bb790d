"""The MCP server on the official SDK's low-level ``Server``: the tool list in the original's order,
tool calls through :mod:`whatsapp.mcp.dispatch`, the empty lists MCP gateways probe for, and the
device feed attached to every connection so notifications reach it."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import mcp_types as types
from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPDeprecationWarning

from whatsapp.mcp.dispatch import Binding, call_tool
from whatsapp.mcp.feed import feed_for
from whatsapp.mcp.tooling import tools
from whatsapp.models import Device
from whatsapp.services.policies import disabled_tools_for

logger = logging.getLogger("whatsapp.mcp")

SERVER_NAME = "whatsapp-gateway"
INSTRUCTIONS = (
    "WhatsApp tools for one linked device. Start with get_connection_status; link with authenticate. "
    "Every error starts with a stable code (e.g. MESSAGE_NOT_CONNECTED) and says how to recover; "
    "get_tool_info explains any tool."
)

BindingOf = Callable[[ServerRequestContext[Any, Any]], Binding]


def _disabled(device_id: Any) -> frozenset[str]:
    try:
        device = Device.objects.get(pk=device_id)
        return disabled_tools_for(device)
    finally:
        close_old_connections()


class _ConnectionOutbound:
    """Sends notifications on a connection's standalone stream (the SDK's ``Connection.notify``)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def notify(self, method: str, params: dict[str, Any] | None) -> None:
        await self.connection.notify(method, params)


def _connection_of(ctx: ServerRequestContext[Any, Any]) -> Any:
    # The SDK keeps the per-client Connection on the session it hands each request (2.3: private).
    return getattr(ctx.session, "_connection", None)


class AttachFeed:
    """Server middleware: the first request of a connection subscribes it to its device's feed, and
    closing the connection unsubscribes it."""

    def __init__(self, binding_of: BindingOf) -> None:
        self.binding_of = binding_of

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: Any) -> Any:
        connection = _connection_of(ctx)
        if connection is not None and "wag.feed" not in connection.state and connection.has_standalone_channel:
            try:
                binding = self.binding_of(ctx)
            except Exception:  # unauthenticated or unbound: nothing to attach
                binding = None
            if binding is not None:
                feed = await feed_for(binding.device_id)
                outbound = _ConnectionOutbound(connection)
                feed.subscribers.add(outbound)
                connection.state["wag.feed"] = feed
                connection.exit_stack.callback(feed.subscribers.discard, outbound)
        return await call_next(ctx)


def build_server(binding_of: BindingOf) -> Server[Any]:
    """A server whose requests act for the device ``binding_of(ctx)`` names."""

    async def list_tools(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListToolsResult:
        binding = binding_of(ctx)
        disabled = await sync_to_async(_disabled, thread_sensitive=False)(binding.device_id)
        return types.ListToolsResult(tools=[
            types.Tool(name=spec.name, description=spec.description(disabled=spec.name in disabled),
                       input_schema=spec.input_schema(),
                       annotations=types.ToolAnnotations(**{
                           "read_only_hint": spec.read_only, "destructive_hint": spec.destructive,
                           "idempotent_hint": spec.idempotent, "open_world_hint": spec.open_world}))
            for spec in tools()
        ])

    async def call(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        binding = binding_of(ctx)
        feed = await feed_for(binding.device_id)
        result = await call_tool(binding, params.name, params.arguments, feed=feed)
        return types.CallToolResult.model_validate(result)

    async def no_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[])

    async def no_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[])

    async def no_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[])

    async def set_level(ctx: Any, params: Any) -> types.EmptyResult:
        return types.EmptyResult()

    with warnings.catch_warnings():
        # logging/setLevel is deprecated by the 2026-07-28 protocol, but MCP gateways still probe it.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        server: Server[Any] = Server(
            SERVER_NAME, version="1.0", instructions=INSTRUCTIONS,
            on_list_tools=list_tools, on_call_tool=call, on_list_resources=no_resources,
            on_list_resource_templates=no_templates, on_list_prompts=no_prompts, on_set_logging_level=set_level,
        )
    server.middleware.append(AttachFeed(binding_of))
    return server
