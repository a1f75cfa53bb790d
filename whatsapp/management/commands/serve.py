"""``manage.py serve``: the whole gateway in one command.

Embedded mode (no ``REDIS_URL``): migrates the SQLite database, then runs the ASGI server (daphne:
admin, REST API, websockets) with an in-process Celery worker and beat. Distributed mode: runs only
the web process; worker, beat and fleet run as their own processes (see the Procfile).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

logger = logging.getLogger("whatsapp.serve")


class Command(BaseCommand):
    help = "Run the gateway: ASGI server, plus in-process workers and beat in embedded mode."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-migrate", action="store_true", help="Do not apply migrations first.")
        parser.add_argument(
            "--workers", choices=("auto", "embedded", "none"), default="auto",
            help="auto: in-process worker and beat only in embedded mode (default).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)  # repairs the search index after it
        else:
            from whatsapp.search.index import ensure_index

            ensure_index()
        self._ensure_superuser_from_env()

        embedded = None
        run_workers = options["workers"] == "embedded" or (
            options["workers"] == "auto" and settings.GATEWAY_MODE == "embedded"
        )
        if run_workers:
            from config.celery import app
            from whatsapp.embedded import EmbeddedCelery

            embedded = EmbeddedCelery(app)
            embedded.start()

        # Imported here: daphne.server installs Twisted's asyncio reactor when imported.
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from config.asgi import application

        host, port = options["host"], options["port"]
        self.stderr.write(
            f"WhatsApp gateway ({settings.GATEWAY_MODE} mode, engine {settings.WHATSAPP_ENGINE}) "
            f"on http://{host}:{port}/ — admin at /admin/, health at /health, readiness at /ready"
        )
        try:
            Server(
                application=application,
                endpoints=build_endpoint_description_strings(host=host, port=port),
                signal_handlers=True,
                application_close_timeout=10,
            ).run()
        finally:
            if embedded is not None:
                embedded.stop()

    def _ensure_superuser_from_env(self) -> None:
        """Create the first operator from DJANGO_SUPERUSER_USERNAME/PASSWORD when both are set."""
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
        if not username or not os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            return
        if get_user_model().objects.filter(username=username).exists():
            return
        call_command("createsuperuser", interactive=False, username=username,
                     email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""), verbosity=0)
        logger.info("created superuser %s", username)
