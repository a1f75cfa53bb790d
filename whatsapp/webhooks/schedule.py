"""When a failed delivery is tried again (SPEC §7): 10 s, 30 s and 90 s after the first three
failures (wa-server's fixed schedule; ``WEBHOOK_RETRY_DELAYS_S``), then exponentially longer (times 3
each time, ±20 % jitter so that the deliveries of a receiver that was down do not all come back in
one burst), for at most ``WEBHOOK_RETRY_WINDOW_S`` (24 h) after the first attempt; a delivery still
failing then is dead-lettered (only a replay sends it again). The last retry is placed exactly at the
window's end rather than skipped, so a receiver that comes back late in the window still gets the
event."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings

GROWTH = 3.0
JITTER = 0.2
MAX_DELAY_S = 6 * 3600.0


def retry_delay(failures: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``failures``-th failed attempt (1-based)."""
    if failures < 1:
        raise ValueError("failures counts from 1")
    fixed = settings.WEBHOOK_RETRY_DELAYS_S
    if failures <= len(fixed):
        return fixed[failures - 1]
    base = min(fixed[-1] * GROWTH ** (failures - len(fixed)), MAX_DELAY_S)
    return base * (1 + (rng or random).uniform(-JITTER, JITTER))


def next_attempt(failures: int, failed_at: datetime, retry_until: datetime,
                 rng: random.Random | None = None) -> datetime | None:
    """When to try again after ``failures`` failed attempts, or None: dead-letter now."""
    if failed_at >= retry_until:
        return None
    return min(failed_at + timedelta(seconds=retry_delay(failures, rng)), retry_until)
