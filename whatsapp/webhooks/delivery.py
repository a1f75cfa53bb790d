"""Delivering one stream: the open deliveries of one app for one device, in ``sequence`` order.

A worker task runs :func:`deliver_stream` with the lease the dispatcher gave it. It takes the
stream's head, POSTs it, records the outcome, and goes on with the next one, until:

* the stream is empty (the lease is released);
* an attempt fails and is scheduled for a retry: the later events of the stream wait with it
  (``not_before``), so a receiver never sees event 8 before event 7 — unless 7 is dead-lettered;
* the run has used its time budget (another worker thread gets its turn; the dispatcher hands the
  stream out again at once);
* the lease was lost (this worker stalled past it and another took the stream): it stops without
  writing, and the other worker delivers — at least once, never the same attempt twice on record.

Outcomes are written in small batches (one INSERT of attempts, one UPDATE of deliveries): a worker
killed between a receiver's 2xx and the write sends those events again after its lease expires, with
the same ``X-WA-Request-ID`` (at-least-once delivery; receivers deduplicate on the id).
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.utils import timezone

from whatsapp import wakeups
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import App, DeliveryState, WebhookAttempt, WebhookDelivery
from whatsapp.models.bulk import update_each
from whatsapp.models.events import WEBHOOK_WAKEUP
from whatsapp.models.webhooks import WebhookStream
from whatsapp.webhooks import envelope, schedule, signing
from whatsapp.webhooks.endpoints import check_destination, resolve_url

logger = logging.getLogger("whatsapp.webhooks")

BATCH = 100               # deliveries read per query
FLUSH_EVERY = 25          # outcomes written per batch at most (bounds re-sends after a crash)
FLUSH_AFTER_S = 0.25      # …and at least this often
RUN_BUDGET_S = 5.0        # a run gives its worker thread back after this long
RESPONSE_EXCERPT = 2048   # bytes of the receiver's answer kept in the attempt log
DRAIN_LIMIT = 64 * 1024   # bytes read past the excerpt to keep the connection reusable

_clients: dict[float, httpx.Client] = {}
_client_lock = threading.Lock()


def lease_seconds() -> float:
    """A lease outlives one attempt (the timeout) with room for the writes around it."""
    return settings.WEBHOOK_TIMEOUT_S + 20.0


def http_client() -> httpx.Client:
    """The process's HTTP client: keep-alive connections per receiver, shared by worker threads.
    Redirects are not followed (a 3xx is a failed attempt) and proxies from the environment are
    ignored, so the address checked is the address reached."""
    timeout = float(settings.WEBHOOK_TIMEOUT_S)
    with _client_lock:
        client = _clients.get(timeout)
        if client is None:
            client = _clients[timeout] = httpx.Client(
                timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=128, keepalive_expiry=30.0),
                follow_redirects=False, trust_env=False,
            )
        return client


@dataclass
class Outcome:
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error_code: ErrorCode | None = None
    error: str = ""
    response_body: str = ""

    @property
    def succeeded(self) -> bool:
        return self.error_code is None and self.status_code is not None and 200 <= self.status_code < 300


def post(client: httpx.Client, url: str, headers: dict[str, str], body: bytes) -> Outcome:
    """One attempt. Never raises: every failure becomes an outcome with its ``ErrorCode``."""
    started_at, clock = timezone.now(), time.monotonic()
    deadline = clock + settings.WEBHOOK_TIMEOUT_S

    def done(**fields: object) -> Outcome:
        return Outcome(started_at=started_at, duration_ms=round((time.monotonic() - clock) * 1000), **fields)

    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            excerpt, read = bytearray(), 0
            for chunk in response.iter_bytes():
                if len(excerpt) < RESPONSE_EXCERPT:
                    excerpt += chunk[:RESPONSE_EXCERPT - len(excerpt)]
                read += len(chunk)
                if read > RESPONSE_EXCERPT + DRAIN_LIMIT or time.monotonic() > deadline:
                    break  # leaving early closes this connection instead of returning it to the pool
            text = excerpt.decode("utf-8", "replace")
            if time.monotonic() > deadline and read <= RESPONSE_EXCERPT + DRAIN_LIMIT and not response.is_closed:
                return done(status_code=response.status_code, error_code=ErrorCode.CONNECTION_TIMEOUT,
                            error=f"the answer took longer than {settings.WEBHOOK_TIMEOUT_S} s", response_body=text)
            if 200 <= response.status_code < 300:
                return done(status_code=response.status_code, response_body=text)
            return done(status_code=response.status_code, error_code=ErrorCode.WEBHOOK_DELIVERY_FAILED,
                        error=f"HTTP {response.status_code}", response_body=text)
    except httpx.TimeoutException as error:
        return done(error_code=ErrorCode.CONNECTION_TIMEOUT,
                    error=f"{type(error).__name__}: no answer within {settings.WEBHOOK_TIMEOUT_S} s")
    except httpx.ConnectError as error:
        return done(error_code=_connect_error_code(error), error=f"ConnectError: {error}"[:500])
    except httpx.HTTPError as error:
        return done(error_code=ErrorCode.WEBHOOK_DELIVERY_FAILED, error=f"{type(error).__name__}: {error}"[:500])


def _connect_error_code(error: httpx.ConnectError) -> ErrorCode:
    """Classify by the exception chain's types (never by message text)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return ErrorCode.CONNECTION_DNS_FAILED
        if isinstance(cause, ssl.SSLError):
            return ErrorCode.CONNECTION_TLS_FAILED
        cause = cause.__cause__ or cause.__context__
    text = str(error).lower()
    if "name or service not known" in text or "nodename nor servname" in text or "temporary failure in name" in text:
        return ErrorCode.CONNECTION_DNS_FAILED  # httpcore re-raises resolver errors without chaining them
    return ErrorCode.WEBHOOK_DELIVERY_FAILED


@dataclass
class Recorder:
    """Outcomes waiting to be written together."""

    deliveries: list[WebhookDelivery] = field(default_factory=list)
    attempts: list[WebhookAttempt] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)

    FIELDS = ("url", "state", "attempts", "next_attempt_at", "retry_until", "last_attempt_at", "last_status_code",
              "last_error_code", "last_error", "delivered_at")

    def add(self, delivery: WebhookDelivery, attempt: WebhookAttempt | None) -> None:
        self.deliveries.append(delivery)
        if attempt is not None:
            self.attempts.append(attempt)

    def due(self) -> bool:
        return len(self.deliveries) >= FLUSH_EVERY or time.monotonic() - self.since >= FLUSH_AFTER_S

    def flush(self) -> None:
        if self.attempts:
            WebhookAttempt.objects.bulk_create(self.attempts)
        if self.deliveries:
            update_each(self.deliveries, self.FIELDS)
        self.deliveries, self.attempts, self.since = [], [], time.monotonic()


def record(delivery: WebhookDelivery, outcome: Outcome, url: str, rng: random.Random | None = None) -> WebhookAttempt:
    """Apply one attempt's outcome to ``delivery`` (in memory) and return its log row."""
    delivery.attempts += 1
    delivery.url = url
    delivery.last_attempt_at = outcome.started_at
    delivery.last_status_code = outcome.status_code
    if delivery.retry_until is None:
        delivery.retry_until = outcome.started_at + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_S)
    if outcome.succeeded:
        delivery.state, delivery.delivered_at = DeliveryState.SUCCEEDED, outcome.started_at
        delivery.last_error_code = delivery.last_error = ""
    else:
        delivery.last_error_code = outcome.error_code.name if outcome.error_code else ""
        delivery.last_error = outcome.error
        retry_at = schedule.next_attempt(delivery.attempts, outcome.started_at, delivery.retry_until, rng)
        if retry_at is None:
            delivery.state = DeliveryState.DEAD
        else:
            delivery.state, delivery.next_attempt_at = DeliveryState.FAILED, retry_at
    return WebhookAttempt(delivery=delivery, number=delivery.attempts, url=url, started_at=outcome.started_at,
                          duration_ms=outcome.duration_ms, status_code=outcome.status_code,
                          error_code=delivery.last_error_code if not outcome.succeeded else "",
                          error=outcome.error, response_body=outcome.response_body)


def retire(delivery: WebhookDelivery, error: WhatsAppError, now: datetime) -> None:
    """Dead-letter without an attempt: the app stopped delivering (no URL any more, or deactivated)."""
    delivery.state = DeliveryState.DEAD
    delivery.last_error_code, delivery.last_error = error.code.name, error.message
    delivery.next_attempt_at = now


@dataclass
class RunResult:
    attempted: int = 0
    succeeded: int = 0
    retry_at: datetime | None = None
    lost_lease: bool = False


def deliver_stream(stream_id: int, token: uuid.UUID | str, *, client: httpx.Client | None = None,
                   rng: random.Random | None = None) -> RunResult:
    """Deliver the stream ``stream_id`` while holding the lease ``token`` (see the module docs)."""
    token = uuid.UUID(str(token))
    result = RunResult()
    stream = WebhookStream.objects.filter(pk=stream_id, lease_token=token).first()
    if stream is None:
        return result  # the lease expired before this task ran, and the stream went to another
    client = client or http_client()
    recorder = Recorder()
    started = time.monotonic()
    try:
        _run(stream, token, client, recorder, result, started, rng)
    finally:
        if not result.lost_lease:
            # Should these writes fail too, the lease runs out and the stream is delivered again
            # from its last recorded state (at-least-once).
            recorder.flush()
            stream.release(token, result.retry_at)
            wakeups.notify(WEBHOOK_WAKEUP, "dispatch")  # a free lease (and maybe more work) to hand out
    return result


def _run(stream: WebhookStream, token: uuid.UUID, client: httpx.Client, recorder: Recorder, result: RunResult,
         started: float, rng: random.Random | None) -> None:
    lease_s = lease_seconds()
    while time.monotonic() - started < RUN_BUDGET_S:
        heads = list(WebhookDelivery.objects.open().filter(app_id=stream.app_id, device_id=stream.device_id)
                     .select_related("event").order_by("sequence")[:BATCH])
        if not heads:
            return
        app = App.objects.get(pk=stream.app_id)  # read per batch: URL, secret or filter may have changed
        for delivery in heads:
            now = timezone.now()
            if delivery.next_attempt_at > now:
                result.retry_at = delivery.next_attempt_at
                return
            if time.monotonic() - started >= RUN_BUDGET_S:
                return
            if (stream.leased_until - now).total_seconds() < settings.WEBHOOK_TIMEOUT_S + 5:
                recorder.flush()
                if not stream.renew(token, lease_s):
                    result.lost_lease = True
                    return
            if not app.is_active or not app.webhook_url:
                retire(delivery, WhatsAppError(ErrorCode.WEBHOOK_NOT_CONFIGURED, "The app no longer delivers "
                       "webhooks (no webhook URL, or deactivated)."), now)
                recorder.add(delivery, None)
                continue
            outcome, url = _attempt(client, app, delivery)
            recorder.add(delivery, record(delivery, outcome, url, rng))
            result.attempted += 1
            if delivery.state == DeliveryState.SUCCEEDED:
                result.succeeded += 1
            elif delivery.state == DeliveryState.FAILED:
                result.retry_at = delivery.next_attempt_at
                return
            if recorder.due():
                recorder.flush()
        recorder.flush()  # before the next read: what was delivered is no longer open


def _attempt(client: httpx.Client, app: App, delivery: WebhookDelivery) -> tuple[Outcome, str]:
    try:
        url = resolve_url(app.webhook_url)
        check_destination(url)
    except WhatsAppError as error:
        return Outcome(started_at=timezone.now(), duration_ms=0, error_code=error.code, error=error.message), (
            delivery.url)
    timestamp = int(time.time())
    payload = envelope.body(delivery, delivery.event)
    headers = signing.delivery_headers(secrets=app.signing_secrets(), request_id=str(delivery.request_id),
                                       event=delivery.event_type, timestamp=timestamp, body=payload)
    return post(client, url, headers, payload), url
