"""The per-app request limiter (``rate_limit_exceeded``), distinct from WhatsApp's own limit
(``provider_rate_limit``): a fixed one-minute window counted in the cache (Redis in distributed mode,
so every web process shares the count; the process's memory in embedded mode, which has one)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import App

WINDOW_S = 60


@dataclass(frozen=True)
class Quota:
    limit: int
    used: int
    reset_at: float  # Unix time when the window ends

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(max(0, self.limit - self.used)),
                "X-RateLimit-Reset": str(int(self.reset_at))}

    def error(self) -> WhatsAppError:
        return WhatsAppError(ErrorCode.MESSAGE_RATE_LIMITED,
                             f"More than {self.limit} API requests in a minute for this app (API_RATE_LIMIT_PER_MIN).",
                             retry_after_s=max(1.0, self.reset_at - time.time()), details={"limit": self.limit})


def take(app: App) -> Quota | None:
    """Count one request for ``app`` in the current window. None when the limiter is off
    (``API_RATE_LIMIT_PER_MIN=0``); the caller refuses the request when the quota is ``exceeded``."""
    limit = settings.API_RATE_LIMIT_PER_MIN
    if not limit:
        return None
    window = int(time.time() // WINDOW_S)
    key = f"api-rate:{app.pk}:{window}"
    try:
        used = cache.incr(key)  # one round trip on every request but a window's first
    except ValueError:  # the window's first request (or the key was evicted)
        used = 1 if cache.add(key, 1, timeout=WINDOW_S * 2) else cache.incr(key)
    return Quota(limit, used, (window + 1) * WINDOW_S)
