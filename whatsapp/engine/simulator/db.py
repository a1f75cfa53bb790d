"""Database access that tolerates lock contention between the simulator's threads and processes.

SQLite raises ``database is locked`` when a writer waits longer than its busy timeout, and the shared
in-memory database used by the unit tests raises ``database table is locked`` at once (shared-cache
locks ignore the busy timeout). Every unit of simulator work is small and idempotent, so it is simply
run again after a short random pause.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, connection, transaction

T = TypeVar("T")


def retrying(work: Callable[[], T], *, atomic: bool = True, deadline_s: float = 30.0) -> T:
    """Run ``work`` (in a transaction when ``atomic``), again while the database reports a lock."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if atomic and not connection.in_atomic_block:
                with transaction.atomic():
                    return work()
            return work()
        except OperationalError as exc:
            # Inside someone else's transaction a retry cannot help: the transaction is broken.
            if "locked" not in str(exc) or connection.in_atomic_block or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.002, 0.02))
