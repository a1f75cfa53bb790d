#!/usr/bin/env python
"""Django's command-line utility for the WhatsApp gateway."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if sys.argv[1:2] == ["run_device"]:
        os.environ.setdefault("GATEWAY_ROLE", "runner")  # lean settings: see config/settings.py
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
