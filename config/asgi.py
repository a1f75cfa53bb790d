"""ASGI entry point: Django over HTTP, the MCP server at ``/mcp``, Channels consumers over websockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# This process serves HTTP: each request runs in a thread of its own, so PostgreSQL connections come
# from a pool instead of being opened per request (see settings, DATABASE_POOL_MAX).
os.environ.setdefault("GATEWAY_ROLE", "web")

# Django must be set up before anything imports models (the websocket routes do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from whatsapp.mcp.http import McpHttpApp, is_mcp_path  # noqa: E402
from whatsapp.routing import websocket_urlpatterns  # noqa: E402

mcp_app = McpHttpApp()


async def http_app(scope, receive, send):
    """``/mcp`` goes to the MCP server (streamable HTTP); everything else to Django."""
    if is_mcp_path(scope["path"]):
        await mcp_app(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
