"""The dispatcher: hands each due stream to a worker task, holding its lease meanwhile.

One runs in every worker process that consumes the ``default`` queue (a Celery bootstep; in embedded
mode inside ``serve``). It sleeps until an event with deliveries is committed (a wake-up: Redis, or a
local socket in embedded mode), a retry falls due, or a lease runs out, then:

1. finds the streams whose head delivery is due (open, ``next_attempt_at`` passed) and whose
   ``not_before`` has passed;
2. leases each one (a compare-and-set UPDATE, so two dispatchers never lease one stream), at most
   ``WEBHOOK_ENDPOINT_CONCURRENCY`` streams per receiver at once;
3. enqueues ``deliver_webhook_stream(stream, lease)`` for it.

Nothing here is lost with a process: the deliveries are rows, a lease whose task never ran expires,
and the next pass (of any dispatcher) hands the stream out again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Min, Q
from django.utils import timezone

from whatsapp import wakeups
from whatsapp.errors import WhatsAppError
from whatsapp.models import App, WebhookDelivery
from whatsapp.models.events import WEBHOOK_WAKEUP
from whatsapp.models.webhooks import WebhookStream
from whatsapp.webhooks.delivery import lease_seconds
from whatsapp.webhooks.endpoints import endpoint_key, resolve_url

logger = logging.getLogger("whatsapp.webhooks")

IDLE_WAIT_S = 10.0    # with nothing scheduled, look at the database this often anyway (lost wake-ups)
BUSY_WAIT_S = 1.0     # streams held back by the per-receiver cap are looked at again this often
MAX_STREAMS = 500     # streams leased per pass

Enqueue = Callable[[int, str], None]


def enqueue_task(stream_id: int, token: str) -> None:
    from whatsapp.tasks import deliver_webhook_stream

    deliver_webhook_stream.delay(stream_id, token)


def endpoint_cap(pool_size: int | None = None) -> int:
    """Streams one receiver may hold at once: ``WEBHOOK_ENDPOINT_CONCURRENCY``, and never more than half
    of the worker's threads, so a receiver that stalls every request leaves the other half to the rest."""
    cap = settings.WEBHOOK_ENDPOINT_CONCURRENCY
    return min(cap, max(1, pool_size // 2)) if pool_size else cap


def dispatch_due(enqueue: Enqueue = enqueue_task, cap: int | None = None) -> float:
    """One pass; returns how long the caller may sleep before the next one (a wake-up cuts it short)."""
    cap = cap or endpoint_cap()
    now = timezone.now()
    # Oldest waiting first: under the per-receiver cap, a stream that has waited longest gets the next
    # free slot (a fixed order would serve the same streams again and again and starve the rest).
    due_pairs = [(row["app_id"], row["device_id"]) for row in
                 WebhookDelivery.objects.open().filter(next_attempt_at__lte=now).values("app_id", "device_id")
                 .annotate(oldest=Min("next_attempt_at")).order_by("oldest")[:MAX_STREAMS * 2]]
    capped = False
    if due_pairs:
        streams = _streams_for(due_pairs)
        busy = Counter(WebhookStream.objects.filter(leased_until__gt=now).values_list("endpoint", flat=True))
        endpoints = _endpoints({stream.app_id for stream in streams})
        leased = 0
        for stream in streams:
            if leased >= MAX_STREAMS:
                break
            if (stream.leased_until and stream.leased_until > now) or (stream.not_before and stream.not_before > now):
                continue
            endpoint = endpoints.get(stream.app_id, "")
            if endpoint and busy[endpoint] >= cap:
                capped = True
                continue
            token = uuid.uuid4()
            claimed = WebhookStream.objects.filter(pk=stream.pk).filter(
                Q(leased_until__isnull=True) | Q(leased_until__lte=now)).update(
                lease_token=token, leased_until=now + timedelta(seconds=lease_seconds()), endpoint=endpoint)
            if claimed:
                busy[endpoint] += 1
                leased += 1
                enqueue(stream.pk, str(token))
    return BUSY_WAIT_S if capped else _until_next(now)


def _streams_for(pairs: list[tuple[object, object]]) -> list[WebhookStream]:
    """The stream rows of ``pairs``, created when missing (a stream is born with its first delivery)."""
    query = Q()
    for app_id, device_id in pairs:
        query |= Q(app_id=app_id, device_id=device_id)
    streams = {(s.app_id, s.device_id): s for s in WebhookStream.objects.filter(query)}
    missing = [WebhookStream(app_id=app_id, device_id=device_id) for app_id, device_id in pairs
               if (app_id, device_id) not in streams]
    if missing:
        WebhookStream.objects.bulk_create(missing, ignore_conflicts=True)
        streams = {(s.app_id, s.device_id): s for s in WebhookStream.objects.filter(query)}
    return [streams[pair] for pair in pairs if pair in streams]


def _endpoints(app_ids: set[object]) -> dict[object, str]:
    keys = {}
    for app_id, url in App.objects.filter(pk__in=app_ids).values_list("pk", "webhook_url"):
        try:
            keys[app_id] = endpoint_key(resolve_url(url))
        except WhatsAppError:
            keys[app_id] = ""
    return keys


def _until_next(now: datetime) -> float:
    """Seconds until the earliest known moment work falls due: a retry, or a lease that runs out."""
    moments = [
        WebhookDelivery.objects.open().filter(next_attempt_at__gt=now).aggregate(m=Min("next_attempt_at"))["m"],
        WebhookStream.objects.filter(not_before__gt=now).aggregate(m=Min("not_before"))["m"],
        WebhookStream.objects.filter(leased_until__gt=now).aggregate(m=Min("leased_until"))["m"],
    ]
    soonest = min((moment for moment in moments if moment is not None), default=None)
    if soonest is None:
        return IDLE_WAIT_S
    return min(max((soonest - now).total_seconds(), 0.05), IDLE_WAIT_S)


class Dispatcher:
    """The dispatch loop on a daemon thread of a worker process."""

    def __init__(self, enqueue: Enqueue = enqueue_task, pool_size: int | None = None) -> None:
        self.enqueue = enqueue
        self.cap = endpoint_cap(pool_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        wakeups.notify(WEBHOOK_WAKEUP, "dispatch")
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        waiter = wakeups.waiter(WEBHOOK_WAKEUP, "dispatch")
        logger.info("webhook dispatcher running (%s; at most %d streams per receiver)",
                    "woken" if waiter else "polling", self.cap)
        try:
            while not self._stop.is_set():
                try:
                    pause = dispatch_due(self.enqueue, self.cap)
                except Exception:
                    logger.exception("webhook dispatch pass failed; retrying")
                    close_old_connections()
                    pause = BUSY_WAIT_S
                if pause >= IDLE_WAIT_S and connection.vendor == "postgresql":
                    connection.close()  # an idle dispatcher holds no PostgreSQL connection
                if waiter is None:
                    self._stop.wait(min(pause, BUSY_WAIT_S))
                else:
                    waiter.wait(pause)
        finally:
            if waiter is not None:
                waiter.close()
            connection.close()
