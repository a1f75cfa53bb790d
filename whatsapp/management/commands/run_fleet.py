"""``manage.py run_fleet``: a device fleet as a process of its own (without a Celery worker).

The Procfile's ``fleet`` process is a Celery worker on the ``fleet`` queue, which hosts the same
fleet through a bootstep; this command is the minimal form, for tests, benchmarks and debugging.
"""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Supervise device runners (one process per device) until SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default="", help="Lease holder name (default: host, pid and a nonce).")
        parser.add_argument("--capacity", type=int, default=None, help="Most devices this fleet runs.")
        parser.add_argument("--engine", default="", help="Override WHATSAPP_ENGINE for the runners.")

    def handle(self, *args: Any, **options: Any) -> None:
        from whatsapp.runtime.fleet import Fleet

        fleet = Fleet(name=options["name"], capacity=options["capacity"], engine=options["engine"])
        signal.signal(signal.SIGTERM, lambda *_: fleet.request_stop())
        signal.signal(signal.SIGINT, lambda *_: fleet.request_stop())
        fleet.run()
