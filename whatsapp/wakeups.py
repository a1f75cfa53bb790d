"""Wake-ups: telling a process "there is new work in the database for X" without it polling.

In distributed mode a wake-up is a Redis list push; the waiting process blocks on the list
(``BLPOP``), so an idle device runner issues no database query and holds no database connection
until there is work — which is what lets one PostgreSQL serve a hundred runners. The database stays
the source of truth: a lost wake-up (Redis down, a race) only delays the work until the waiter's
safety timeout, after which it looks at the database anyway. In embedded mode (no Redis) there are
no wake-ups and waiters fall back to short polling, which costs nothing on SQLite.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger("whatsapp.wakeups")

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def _redis() -> Any | None:
    url = settings.REDIS_URL
    if not url:
        return None
    with _lock:
        client = _clients.get(url)
        if client is None:
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)
            _clients[url] = client
        return client


def key(channel: str, ident: object) -> str:
    return f"wag:wake:{channel}:{ident}"


def available() -> bool:
    """Whether wake-ups are delivered (distributed mode) rather than discovered by polling."""
    return _redis() is not None


def notify(channel: str, ident: object) -> None:
    """Wake whoever waits on ``channel``/``ident`` now. Never raises: a missed wake-up is a delay."""
    client = _redis()
    if client is None:
        return
    name = key(channel, ident)
    try:
        with client.pipeline() as pipe:
            pipe.rpush(name, 1).ltrim(name, -1, -1).expire(name, 60).execute()
    except Exception as error:
        logger.warning("wake-up %s not delivered (%s); the waiter will poll", name, error)


def notify_on_commit(channel: str, ident: object) -> None:
    """Wake once the current transaction has committed (so the waiter sees the new rows)."""
    transaction.on_commit(lambda: notify(channel, ident))


def wait(channel: str, ident: object, timeout_s: float) -> bool:
    """Block until woken or ``timeout_s`` passes. Returns whether a wake-up arrived. Without Redis,
    or when Redis fails, it sleeps for the timeout (the caller then polls the database)."""
    client = _redis()
    if client is None:
        threading.Event().wait(timeout_s)
        return False
    try:
        woken = client.blpop([key(channel, ident)], timeout=max(1, round(timeout_s)))
    except Exception as error:
        logger.warning("waiting for wake-ups failed (%s); polling instead", error)
        threading.Event().wait(min(timeout_s, 1.0))
        return False
    return woken is not None
