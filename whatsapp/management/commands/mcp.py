"""``manage.py mcp --device <id or name>``: the MCP server over stdio for one device.

stdout carries only the protocol: the SDK's stdio transport moves file descriptor 1 to stderr while
it runs, logs go to stderr, and this process never imports neonize (its Go core prints to stdout).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import anyio
from django.core.management.base import BaseCommand, CommandError, CommandParser

from whatsapp.errors import WhatsAppError
from whatsapp.services.lookup import find_device


class Command(BaseCommand):
    help = "Serve the MCP tools of one device over stdio."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--device", required=True, help="Device id or name.")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            device = find_device(options["device"])
        except WhatsAppError as exc:
            raise CommandError(str(exc)) from None

        from mcp.server.stdio import stdio_server

        from whatsapp.mcp.dispatch import Binding
        from whatsapp.mcp.server import build_server

        binding = Binding(device_id=device.pk, actor="mcp:stdio", app_id=device.app_id)
        server = build_server(lambda ctx: binding)

        async def serve() -> None:
            async with stdio_server() as (read_stream, write_stream):
                await server.run(read_stream, write_stream, server.create_initialization_options())

        anyio.run(serve)
