"""The Celery app: two queues and the beat schedule.

* ``default`` — webhook dispatch and delivery, media fetches, retries and maintenance (the ``worker``
  process, threads pool);
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


class HostedServiceStep(bootsteps.StartStopStep):
    """Runs a long-lived service (anything with ``start()``/``stop()``) inside every worker that
    consumes ``queue``, for as long as the worker runs."""

    requires = {"celery.worker.components:Pool"}
    queue = ""

    def __init__(self, worker: object, **kwargs: object) -> None:
        super().__init__(worker, **kwargs)
        self.service = None

    def build(self, worker: object) -> object:
        raise NotImplementedError

    def start(self, worker: object) -> None:
        if self.queue not in worker.app.amqp.queues.consume_from:
            return
        self.service = self.build(worker)
        self.service.start()

    def stop(self, worker: object) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None


class FleetStep(HostedServiceStep):
    """Hosts the device fleet inside a worker that consumes the ``fleet`` queue (DESIGN.md §2)."""

    queue = FLEET_QUEUE

    def build(self, worker: object) -> object:
        from whatsapp.runtime.fleet import Fleet

        return Fleet(name=f"fleet:{worker.hostname}")


class WebhookDispatchStep(HostedServiceStep):
    """Runs the webhook dispatcher in every worker that consumes the ``default`` queue, where its
    ``deliver_webhook_stream`` tasks run (see ``whatsapp.webhooks.dispatcher``)."""

    queue = DEFAULT_QUEUE

    def build(self, worker: object) -> object:
        from whatsapp.webhooks.dispatcher import Dispatcher

        return Dispatcher(pool_size=getattr(worker, "concurrency", None))


app.steps["worker"].add(FleetStep)
app.steps["worker"].add(WebhookDispatchStep)
app.autodiscover_tasks()
