"""In-process Celery for the embedded topology.

Without Redis, tasks travel over Celery's ``memory://`` transport, which only exists inside one
process. ``manage.py serve`` therefore runs a Celery worker (thread pool) and beat as threads next to
the ASGI server, so the very same task code runs in both topologies. Database rows remain the source
of truth, so a task lost with the process is only a delay: the periodic jobs pick its work up again.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field

from celery import Celery
from celery.beat import EmbeddedService
from celery.worker import WorkController

from config.celery import DEFAULT_QUEUE, FLEET_QUEUE

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedCelery:
    """A Celery worker and beat running as daemon threads of this process."""

    app: Celery
    concurrency: int = 8  # webhook deliveries wait on receivers; half the threads may serve one receiver
    worker: WorkController | None = None
    beat: object | None = None
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, *, with_beat: bool = True) -> None:
        ready = threading.Event()
        self.worker = WorkController(
            app=self.app,
            hostname=f"embedded@{socket.gethostname()}",
            pool_cls="threads",
            concurrency=self.concurrency,
            queues=[DEFAULT_QUEUE, FLEET_QUEUE],
            loglevel=logging.getLogger().level or logging.INFO,
            ready_callback=lambda *_: ready.set(),
            # Remote control, gossip and mingle need a broadcast-capable broker and a cluster.
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            pool_restarts=False,
        )
        worker_thread = threading.Thread(target=self.worker.start, name="celery-worker", daemon=True)
        worker_thread.start()
        self._threads.append(worker_thread)
        if not ready.wait(timeout=30):
            raise RuntimeError("the embedded Celery worker did not start within 30 s")
        logger.info("embedded Celery worker running (%d threads)", self.concurrency)
        if with_beat:
            # Service() ignores beat_scheduler from the config; without it beat would keep a
            # schedule file in the working directory instead of the database.
            self.beat = EmbeddedService(self.app, thread=True, scheduler_cls=self.app.conf.beat_scheduler)
            self.beat.start()
            logger.info("embedded Celery beat running")

    def stop(self) -> None:
        if self.beat is not None:
            self.beat.stop()
        if self.worker is not None:
            self.worker.stop(in_sighandler=False)
        for thread in self._threads:
            thread.join(timeout=10)
