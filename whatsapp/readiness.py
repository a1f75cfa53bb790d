"""Readiness checks behind ``GET /ready``: is every dependency of this process usable right now?

Critical checks (database, broker, channel layer) decide the status code: one failing makes the
answer 503 and names it. Informational checks (the background heartbeat written by a beat-scheduled
task that a worker runs) are reported but never fail readiness, so a web process can be ready while
the workers are being restarted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

CHECK_TIMEOUT_S = 3.0
HEARTBEAT_ROLE = "scheduler"
HEARTBEAT_STALE_AFTER_S = 90


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], Awaitable[dict[str, Any]]]
    critical: bool = True


def redact_url(url: str) -> str:
    """A URL fit for a public health page: no user name or password."""
    parts = urlsplit(url)
    if not parts.hostname:
        return url
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _database() -> dict[str, Any]:
    connection = connections["default"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"backend": connection.vendor}


async def check_database() -> dict[str, Any]:
    return await sync_to_async(_database)()


def _broker() -> dict[str, Any]:
    from celery import current_app as app  # the project's app (config/__init__ loads it with the settings)

    url = app.conf.broker_url
    if url.startswith("memory://"):
        return {"backend": "memory (embedded, in-process)"}
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=CHECK_TIMEOUT_S)
        transport = connection.transport_cls
    return {"backend": transport, "url": redact_url(url)}


async def check_broker() -> dict[str, Any]:
    return await sync_to_async(_broker, thread_sensitive=False)()


async def check_channel_layer() -> dict[str, Any]:
    """A real round trip: send to a fresh channel and receive it back."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel("ready.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "ready.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")
    return {"backend": type(layer).__name__}


def _heartbeat() -> dict[str, Any]:
    from whatsapp.models import ProcessHeartbeat

    heartbeat = ProcessHeartbeat.objects.filter(role=HEARTBEAT_ROLE).first()
    if heartbeat is None:
        return {"status": "unknown", "detail": "no beat-scheduled task has run yet"}
    age = heartbeat.age().total_seconds()
    return {
        "status": "ok" if age <= HEARTBEAT_STALE_AFTER_S else "stale",
        "last_seen": heartbeat.seen_at.isoformat(),
        "age_s": round(age, 1),
    }


async def check_background() -> dict[str, Any]:
    return await sync_to_async(_heartbeat)()


CHECKS: list[Check] = [
    Check("database", check_database),
    Check("broker", check_broker),
    Check("channel_layer", check_channel_layer),
    Check("background", check_background, critical=False),
]


async def _run(check: Check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(check.run(), timeout=CHECK_TIMEOUT_S)
        result.setdefault("status", "ok")
    except TimeoutError:
        result = {"status": "error", "error": f"no answer within {CHECK_TIMEOUT_S:g} s"}
    except Exception as exc:
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


async def run_checks() -> tuple[bool, dict[str, Any]]:
    """Run every check concurrently. Returns (ready, body)."""
    results = await asyncio.gather(*(_run(check) for check in CHECKS))
    by_name = {check.name: result for check, result in zip(CHECKS, results, strict=True)}
    failing = [c.name for c in CHECKS if c.critical and by_name[c.name]["status"] != "ok"]
    body = {
        "status": "ok" if not failing else "unavailable",
        "mode": settings.GATEWAY_MODE,
        "checks": by_name,
    }
    if failing:
        body["failing"] = failing
    return not failing, body
