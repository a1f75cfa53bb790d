"""The Celery app: two queues and the beat schedule.

* ``default`` — webhook delivery, media fetches, retries and maintenance (the ``worker`` process);
* ``fleet`` — commands for the WhatsApp device runners, consumed only by fleet processes.

Beat entries are declared in :mod:`config.beat` and stored by django-celery-beat's database
scheduler, so operators can see and pause them in the admin.
"""

from __future__ import annotations

import os

from celery import Celery, bootsteps
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


class FleetStep(bootsteps.StartStopStep):
    """Hosts the device fleet inside a worker that consumes the ``fleet`` queue (DESIGN.md §2)."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker: object, **kwargs: object) -> None:
        super().__init__(worker, **kwargs)
        self.fleet = None

    def start(self, worker: object) -> None:
        if FLEET_QUEUE not in worker.app.amqp.queues.consume_from:
            return
        from whatsapp.runtime.fleet import Fleet

        self.fleet = Fleet(name=f"fleet:{worker.hostname}")
        self.fleet.start()

    def stop(self, worker: object) -> None:
        if self.fleet is not None:
            self.fleet.stop()
            self.fleet = None


class WebhookDispatchStep(bootsteps.StartStopStep):
    """Runs the webhook dispatcher in every worker that consumes the ``default`` queue, where its
    ``deliver_webhook_stream`` tasks run (see ``whatsapp.webhooks.dispatcher``)."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker: object, **kwargs: object) -> None:
        super().__init__(worker, **kwargs)
        self.dispatcher = None

    def start(self, worker: object) -> None:
        if DEFAULT_QUEUE not in worker.app.amqp.queues.consume_from:
            return
        from whatsapp.webhooks.dispatcher import Dispatcher

        self.dispatcher = Dispatcher()
        self.dispatcher.start()

    def stop(self, worker: object) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None


app.steps["worker"].add(FleetStep)
app.steps["worker"].add(WebhookDispatchStep)
app.autodiscover_tasks()
