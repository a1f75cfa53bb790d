"""The app's webhook delivery log and replay (SPEC §7): list with filters, cursor pages and per-state
counters, one delivery with its attempts and the exact envelope it sends, and redeliver.

Everything goes through ``whatsapp.webhooks.services``; its errors (``not_found``,
``webhook_not_configured``, ``validation_error``) leave through the API's shared exception handlers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import AwareDatetime, field_validator

from whatsapp.api.lookups import app_of
from whatsapp.api.responses import responses
from whatsapp.api.schemas import Data
from whatsapp.errors import ErrorCode as E
from whatsapp.models import WebhookAttempt, WebhookDelivery
from whatsapp.models.webhooks import OPEN_STATES
from whatsapp.services.history import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from whatsapp.webhooks import services
from whatsapp.webhooks.envelope import envelope

router = Router(tags=["webhooks"])

State = Literal[services.STATES]  # type: ignore[valid-type]
Event = Literal[services.EVENTS]  # type: ignore[valid-type]
DeliveryId = Annotated[str, Path(description="The delivery's id (a UUID); any other value is `not_found`.")]


class DeliveryFilters(Schema):
    state: State | None = Field(None, description="Only deliveries in this state.")
    event: Event | None = Field(None, description="Only deliveries of this event type.")
    device_id: uuid.UUID | None = Field(None, description="Only deliveries of this device.")
    after: AwareDatetime | None = Field(None, description="Only deliveries created strictly later (RFC 3339).")
    before: AwareDatetime | None = Field(None, description="Only deliveries created strictly earlier (RFC 3339).")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=500, description="`next_cursor` of the previous page.")

    @field_validator("after", "before")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # A time whose UTC form leaves the calendar (year 1 with a positive offset) would fail in the
        # database; refuse it here as a validation error on the field.
        try:
            return value.astimezone(UTC) if value is not None else None
        except (OverflowError, ValueError):
            raise ValueError("is out of range") from None


class DeliveryOut(Schema):
    id: uuid.UUID
    event: str = Field(description="The event type.")
    device_id: uuid.UUID
    sequence: int = Field(description="The device's event sequence number (deliveries of a device go in order).")
    request_id: uuid.UUID = Field(description="`X-WA-Request-ID`: the same on every attempt and replay.")
    url: str = Field(description="The URL of the last attempt (or the one planned).")
    state: State = Field(description="pending, succeeded, failed (a retry is scheduled) or dead (retries exhausted).")
    attempts: int
    next_attempt_at: datetime | None = Field(description="When it is tried next; null unless pending or failed.")
    retry_until: datetime | None = Field(description="Retries stop (dead letter) after this; set at the first attempt.")
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The receiver's HTTP status at the last attempt.")
    last_error_code: str | None = Field(description="The shared enum's lower code of the last failure.")
    last_error: str | None
    replays: int = Field(description="How many times it was redelivered on request.")
    created_at: datetime
    delivered_at: datetime | None


class AttemptOut(Schema):
    number: int
    url: str
    started_at: datetime
    duration_ms: int | None
    status_code: int | None
    error_code: str | None = Field(description="The shared enum's lower code of the failure.")
    error: str | None
    response_body: str | None = Field(description="The first 2 KiB of the receiver's answer.")


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")
    envelope: dict[str, Any] = Field(description="The JSON body every attempt sends (the same on each).")


class Counters(Schema):
    pending: int
    failed: int
    dead: int
    succeeded: int


class DeliveryPage(Schema):
    deliveries: list[DeliveryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null at the end.")
    counters: Counters = Field(description="The app's deliveries per state (all of them, not only this page's).")


def _api_code(name: str) -> str | None:
    """The lower code of a stored UPPER enum name (as ``/devices`` shows ``last_error_code``)."""
    if not name:
        return None
    try:
        return E.lookup(name).api_code
    except KeyError:
        return name.lower()


def delivery_out(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.pk, "event": delivery.event_type, "device_id": delivery.device_id,
        "sequence": delivery.sequence, "request_id": delivery.request_id, "url": delivery.url,
        "state": delivery.state, "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at if delivery.state in OPEN_STATES else None,
        "retry_until": delivery.retry_until, "last_attempt_at": delivery.last_attempt_at,
        "last_status_code": delivery.last_status_code, "last_error_code": _api_code(delivery.last_error_code),
        "last_error": delivery.last_error or None, "replays": delivery.replays,
        "created_at": delivery.created_at, "delivered_at": delivery.delivered_at,
    }


def attempt_out(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number, "url": attempt.url, "started_at": attempt.started_at,
        "duration_ms": attempt.duration_ms, "status_code": attempt.status_code,
        "error_code": _api_code(attempt.error_code), "error": attempt.error or None,
        "response_body": attempt.response_body or None,
    }


def page(rows: QuerySet[WebhookDelivery], limit: int, cursor: str | None) -> tuple[list[WebhookDelivery], str | None]:
    """One page of ``rows``, newest first, and the cursor of the next one.

    The order is ``(created_at, event_id)`` descending: an app has one delivery per event, so the pair
    is unique and pages never repeat or skip a delivery, also while new ones arrive. The cursor is the
    message history's (``(timestamp, integer pk)``), with the event id as the integer."""
    rows = rows.order_by("-created_at", "-event_id")
    if cursor:
        stamp, event_id = decode_cursor(cursor)
        rows = rows.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, event_id__lt=event_id))
    found = list(rows[:limit + 1])
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if found else None
    return found, encode_cursor(last.created_at, last.event_id) if more and last else None


@router.get("/webhooks/deliveries", response=responses({200: Data[DeliveryPage]}),
            summary="The app's webhook deliveries, newest first, with cursor pagination and counters")
def list_deliveries(request: HttpRequest, filters: Query[DeliveryFilters]) -> dict:
    """Pass `next_cursor` back as `cursor` for the next (older) page. `counters` counts all the app's
    deliveries per state, whatever the filters."""
    app = app_of(request)
    rows = services.deliveries(app, state=filters.state, event=filters.event,
                               device_id=str(filters.device_id) if filters.device_id else None,
                               after=filters.after, before=filters.before)
    found, next_cursor = page(rows, filters.limit, filters.cursor)
    return {"data": {"deliveries": [delivery_out(delivery) for delivery in found], "next_cursor": next_cursor,
                     "counters": services.counters(app)[app.pk].as_dict()}}


@router.get("/webhooks/deliveries/{delivery_id}", response=responses({200: Data[DeliveryDetail]}, E.NOT_FOUND),
            summary="One delivery with its attempt log and the envelope it sends")
def get_delivery(request: HttpRequest, delivery_id: DeliveryId) -> dict:
    delivery = services.get_delivery(app_of(request), delivery_id)
    attempts = [attempt_out(attempt) for attempt in delivery.attempt_log.order_by("number")]
    return {"data": {**delivery_out(delivery), "attempt_log": attempts,
                     "envelope": envelope(delivery, delivery.event)}}


@router.post("/webhooks/deliveries/{delivery_id}/redeliver",
             response=responses({202: Data[DeliveryOut]}, E.NOT_FOUND, E.WEBHOOK_NOT_CONFIGURED),
             summary="Send a delivery again (any state), with the same request id and body")
def redeliver(request: HttpRequest, delivery_id: DeliveryId) -> Status:
    """The delivery becomes `pending` with a fresh retry window and goes out ahead of any later event of
    its device still waiting. `webhook_not_configured` (409) when the app has no usable webhook URL."""
    delivery = services.redeliver(services.get_delivery(app_of(request), delivery_id))
    return Status(202, {"data": delivery_out(delivery)})
