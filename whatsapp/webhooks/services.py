"""The delivery log and replay, as every surface (REST, admin) uses them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from whatsapp import wakeups
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import App, DeliveryState, WebhookDelivery
from whatsapp.models.events import WEBHOOK_WAKEUP, EventType
from whatsapp.models.webhooks import OPEN_STATES, WebhookStream
from whatsapp.webhooks.endpoints import resolve_url

STATES = tuple(DeliveryState.values)
EVENTS = tuple(EventType.values)


def deliveries(app: App, *, state: str | None = None, event: str | None = None, device_id: str | None = None,
               after: datetime | None = None, before: datetime | None = None) -> QuerySet[WebhookDelivery]:
    """The app's deliveries, newest first, filtered. Unknown states or events are ``VALIDATION_ERROR``."""
    rows = WebhookDelivery.objects.filter(app=app)
    if state:
        if state not in STATES:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"state must be one of {', '.join(STATES)}.",
                                details={"field": "state"})
        rows = rows.filter(state=state)
    if event:
        if event not in EVENTS:
            raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"unknown event {event!r}.", details={"field": "event"})
        rows = rows.filter(event_type=event)
    if device_id:
        rows = rows.filter(device_id=_uuid(device_id, "device_id"))
    if after:
        rows = rows.filter(created_at__gt=after)
    if before:
        rows = rows.filter(created_at__lt=before)
    return rows.order_by("-created_at", "-sequence")


def get_delivery(app: App, delivery_id: uuid.UUID | str) -> WebhookDelivery:
    """One of the app's deliveries; ``NOT_FOUND`` for another app's or a malformed id."""
    try:
        pk = uuid.UUID(str(delivery_id))
    except ValueError:
        pk = None
    delivery = (WebhookDelivery.objects.filter(pk=pk, app=app).select_related("event").first() if pk else None)
    if delivery is None:
        raise WhatsAppError(ErrorCode.NOT_FOUND, "No such webhook delivery for this app.",
                            details={"delivery_id": str(delivery_id)})
    return delivery


def redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again, whatever its state, with the same ``X-WA-Request-ID`` and body.

    It re-enters its stream at its own ``sequence`` with a fresh retry window, so it goes out before
    any later event still waiting, and the stream's hold (a retry time) is lifted so it goes now.
    ``WEBHOOK_NOT_CONFIGURED`` when the app has nowhere to deliver to."""
    app = delivery.app
    if not app.is_active:
        raise WhatsAppError(ErrorCode.WEBHOOK_NOT_CONFIGURED, "The app is deactivated.")
    resolve_url(app.webhook_url)
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.PENDING, next_attempt_at=now, retry_until=None, replays=delivery.replays + 1)
        WebhookStream.objects.filter(app_id=delivery.app_id, device_id=delivery.device_id).update(not_before=None)
        wakeups.notify_on_commit(WEBHOOK_WAKEUP, "dispatch")
    delivery.refresh_from_db()
    return delivery


@dataclass(frozen=True)
class Counters:
    pending: int
    failed: int
    dead: int
    succeeded: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def counters(apps: Iterable[App] | App) -> dict[uuid.UUID, Counters]:
    """Deliveries per state for each app (one grouped query)."""
    ids = [apps.pk] if isinstance(apps, App) else [app.pk for app in apps]
    per_app: dict[uuid.UUID, dict[str, int]] = {pk: {} for pk in ids}
    for app_id, state, n in (WebhookDelivery.objects.filter(app_id__in=ids).values_list("app_id", "state")
                             .annotate(n=Count("pk")).order_by()):
        per_app[app_id][state] = n
    return {pk: Counters(**{state: found.get(state, 0) for state in STATES}) for pk, found in per_app.items()}


def purge_finished(now: datetime | None = None) -> int:
    """Delete succeeded and dead deliveries older than ``WEBHOOK_DELIVERY_RETENTION_DAYS`` (their
    attempts cascade). Open ones are never purged."""
    days = settings.WEBHOOK_DELIVERY_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = WebhookDelivery.objects.filter(created_at__lt=cutoff).exclude(state__in=OPEN_STATES)
    return old.delete()[1].get(WebhookDelivery._meta.label, 0)


def media_paths_held() -> set[str]:
    """``media_path`` values that deliveries still to be sent point to: media retention must keep
    these files until the receiver had its chance to fetch them."""
    held = (WebhookDelivery.objects.open().filter(event_type=EventType.MESSAGE)
            .filter(~Q(event__payload__media_path=None), event__payload__has_key="media_path")
            .values_list("event__payload__media_path", flat=True))
    return {path for path in held if path}


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"{field} must be a UUID.", details={"field": field}) from None
