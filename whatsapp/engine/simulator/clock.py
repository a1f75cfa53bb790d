"""The simulator's clock: one scheduler thread that runs delayed jobs (QR rotations, receipts, delayed
``Connected``…) in order, and stops cleanly with the engine."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection

log = logging.getLogger(__name__)


class Job:
    """A scheduled call; ``cancel()`` makes it a no-op if it has not run yet."""

    __slots__ = ("args", "cancelled", "due", "fn")

    def __init__(self, due: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.due, self.fn, self.args, self.cancelled = due, fn, args, False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(self, name: str) -> None:
        self._heap: list[tuple[float, int, Job]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> Job:
        job = Job(time.monotonic() + max(0.0, delay_s), fn, args)
        with self._cond:
            if not self._stopped:
                heapq.heappush(self._heap, (job.due, next(self._counter), job))
                self._cond.notify()
            else:
                job.cancelled = True
        return job

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            for _, _, job in self._heap:
                job.cancelled = True
            self._heap.clear()
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                        self._cond.wait(None if not self._heap else max(0.0, self._heap[0][0] - time.monotonic()))
                    if self._stopped:
                        return
                    _, _, job = heapq.heappop(self._heap)
                if job.cancelled:
                    continue
                try:
                    job.fn(*job.args)
                except Exception:
                    log.exception("simulator job %s failed", getattr(job.fn, "__name__", job.fn))
                finally:
                    # Jobs are sparse: hold no idle database connection between them (PostgreSQL budget).
                    connection.close()
        finally:
            connection.close()
