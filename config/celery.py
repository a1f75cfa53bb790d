"""The Celery app: two queues and the beat schedule.

* ``default`` — webhook delivery, media fetches, retries and maintenance (the ``worker`` process);
* ``fleet`` — commands for the WhatsApp device runners, consumed only by fleet processes.

Beat entries are declared in :mod:`config.beat` and stored by django-celery-beat's database
scheduler, so operators can see and pause them in the admin.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

DEFAULT_QUEUE = "default"
FLEET_QUEUE = "fleet"

app = Celery("whatsapp_gateway")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue(DEFAULT_QUEUE), Queue(FLEET_QUEUE))
app.conf.task_routes = {"whatsapp.runtime.*": {"queue": FLEET_QUEUE}}


@app.on_after_configure.connect
def _install_beat_schedule(sender: Celery, **_: object) -> None:
    from config.beat import BEAT_SCHEDULE

    sender.conf.beat_schedule = BEAT_SCHEDULE


app.autodiscover_tasks()
