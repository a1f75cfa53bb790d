"""Project configuration: settings, URLs, ASGI routing and the Celery app."""

import os

if os.environ.get("GATEWAY_ROLE") != "runner":
    # Every process that sends or runs tasks gets the Celery app at start-up (shared_task binds to
    # it). Device runners send none, and importing Celery would cost each of them ~10 MB.
    from config.celery import app as celery_app

    __all__ = ("celery_app",)
