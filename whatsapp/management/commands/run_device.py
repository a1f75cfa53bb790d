"""``manage.py run_device <device id>``: host one device's WhatsApp client in this process.

Started by the fleet (never forked from a process that imported neonize). Go's stdout writes are
redirected to stderr before any engine loads, so stdout never carries client noise; with
``--lease-holder`` the process also dies with its fleet (PR_SET_PDEATHSIG) and stops when the lease
moves to another fleet.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandParser

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGTERM us when the fleet that started us dies, so an orphaned runner never keeps
    a session open while another fleet takes the device over."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class Command(BaseCommand):
    help = "Run the WhatsApp client of one device (started by the fleet)."
    # No system checks: they load the URLconf (the whole REST API and its schemas), which a runner
    # never serves — tens of MB per runner, times a hundred runners. The fleet's processes check.
    requires_system_checks: ClassVar[list[str]] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("device_id")
        parser.add_argument("--lease-holder", default="", help="The fleet holding the device's lease.")
        parser.add_argument("--engine", default="", help="Override WHATSAPP_ENGINE.")

    def handle(self, *args: Any, **options: Any) -> None:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # native code printing to fd 1 lands in the log
        if options["lease_holder"]:
            die_with_parent()
            if os.getppid() == 1:  # the fleet died before we could ask
                return
        from whatsapp.runtime.runner import DeviceRunner

        runner = DeviceRunner(options["device_id"], lease_holder=options["lease_holder"], engine_name=options["engine"])
        runner.install_signal_handlers()
        sys.exit(runner.run())
