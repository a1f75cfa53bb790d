"""``/mcp``: the MCP server over streamable HTTP, inside the gateway's ASGI application.

Each request carries an app's bearer token and picks the device with ``X-Device-Id`` (another app's
device is ``NOT_FOUND``, as on the REST API). A session stays bound to the device it started with.
The SDK's session manager needs a task group for its lifetime; daphne runs no ASGI lifespan, so it
starts with the first request and lives as long as the event loop.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp.dispatch import Binding
from whatsapp.mcp.server import build_server
from whatsapp.models import App, Device, DeviceStatus

PATH = "/mcp"
BINDING_KEY = "wag.binding"


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _bind(token: str, device_ref: str) -> Binding:
    """The app of ``token`` and its device ``device_ref``, or the enum's refusal (runs in a thread)."""
    try:
        app = App.authenticate(token)
        if app is None:
            raise WhatsAppError(ErrorCode.INVALID_API_KEY)
        if not device_ref:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "The X-Device-Id header names the device to act for.",
                                details={"field": "X-Device-Id"})
        try:
            device_id = uuid.UUID(device_ref)
        except ValueError:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "X-Device-Id must be a device id (UUID).",
                                details={"field": "X-Device-Id"}) from None
        device = Device.objects.filter(pk=device_id, app=app).exclude(status=DeviceStatus.DESTROYED).first()
        if device is None:
            raise WhatsAppError(ErrorCode.NOT_FOUND, "No such device for this app.",
                                details={"device_id": device_ref})
        return Binding(device_id=device.pk, actor=f"app:{app.pk}", app_id=app.pk)
    finally:
        close_old_connections()


def binding_of(ctx: Any) -> Binding:
    """The binding the HTTP layer put on the request; a session never changes device."""
    binding: Binding = ctx.request.scope[BINDING_KEY]
    connection = getattr(ctx.session, "_connection", None)
    if connection is not None:
        bound = connection.state.setdefault("wag.binding", binding)
        if bound.device_id != binding.device_id:
            raise WhatsAppError(ErrorCode.FORBIDDEN, "This MCP session is bound to another device.",
                                details={"device_id": str(bound.device_id)})
    return binding


async def _refuse(send: Any, error: WhatsAppError) -> None:
    body = json.dumps(error.to_rest(None)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if error.code in (ErrorCode.INVALID_API_KEY, ErrorCode.UNAUTHORIZED):
        headers.append((b"www-authenticate", b'Bearer realm="mcp"'))
    headers += [(k.lower().encode(), v.encode()) for k, v in error.rest_headers().items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class McpHttpApp:
    def __init__(self) -> None:
        self.manager = StreamableHTTPSessionManager(app=build_server(binding_of), json_response=False,
                                                    stateless=False)
        self._started: asyncio.Future[None] | None = None

    async def _ensure_started(self) -> None:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._run())
        await self._started

    async def _run(self) -> None:
        async with self.manager.run():
            assert self._started is not None
            self._started.set_result(None)
            await asyncio.Event().wait()  # until the loop ends

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        host = _header(scope, b"host")
        if not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
            await _refuse(send, WhatsAppError(ErrorCode.FORBIDDEN, f"Host {host!r} is not allowed.",
                                              details={"host": host}))
            return
        auth = _header(scope, b"authorization")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        try:
            binding = await sync_to_async(_bind, thread_sensitive=False)(token, _header(scope, b"x-device-id").strip())
        except WhatsAppError as error:
            await _refuse(send, error)
            return
        await self._ensure_started()
        await self.manager.handle_request({**scope, BINDING_KEY: binding}, receive, send)


def is_mcp_path(path: str) -> bool:
    return path == PATH or path.startswith(PATH + "/")
