"""App administration use cases (the ``/apps`` API, and later MCP/admin): create an app with its
token, read, update its webhook and policy, rotate its token, and delete it.

Everything is scoped to one tenant: another tenant's app is ``NOT_FOUND``, exactly like an app that
never existed. Field values are validated and normalised here, not in a surface, so every surface
stores the same shapes (``VALIDATION_ERROR`` with ``details.field`` otherwise).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet

from whatsapp import jids
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import App, Device, DeviceStatus, EventType, Tenant
from whatsapp.phones import normalize_phone
from whatsapp.services.devices import destroy_device

#: Fields ``create_app`` and ``update_app`` accept besides the name (``is_active`` on update only).
SETTINGS = frozenset({"webhook_url", "webhook_secret", "webhook_events", "allowed_contacts", "disabled_tools",
                      "rate_limit_per_min", "download_rate_limit_per_min"})
UPDATABLE = SETTINGS | {"name", "is_active"}

WEBHOOK_EVENTS = tuple(EventType.values)
_TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _invalid(field: str, message: str) -> WhatsAppError:
    return WhatsAppError(ErrorCode.VALIDATION_ERROR, f"{field}: {message}", details={"field": field})


# --- normalisation -------------------------------------------------------------------------------


def clean_name(name: Any) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise _invalid("name", "must be a non-empty string")
    if len(text) > 200:
        raise _invalid("name", "must be at most 200 characters")
    return text


def clean_webhook_url(url: str | None) -> str:
    """Empty (no deliveries), an absolute http(s) URL, or a path starting with ``/`` that deliveries
    join to ``WEBHOOK_BASE_URL``."""
    text = (url or "").strip()
    if not text or (text.startswith("/") and not text.startswith("//")):
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid("webhook_url", "must be an absolute http(s) URL or a path starting with /")
    return text


def clean_webhook_events(events: Iterable[str] | None) -> list[str]:
    """The event filter, deduplicated in order; empty means every event."""
    cleaned: list[str] = []
    for event in events or ():
        if event not in WEBHOOK_EVENTS:
            raise _invalid("webhook_events", f"unknown event {event!r}; known: {', '.join(WEBHOOK_EVENTS)}")
        if event not in cleaned:
            cleaned.append(event)
    return cleaned


def clean_allowed_contacts(entries: Iterable[str] | None) -> str | None:
    """Phone numbers become their digits and JIDs their normalised form, comma-joined as the model
    stores them; ``None`` (inherit ``ALLOWED_CONTACTS``) for nothing."""
    cleaned: list[str] = []
    for entry in entries or ():
        text = entry.strip() if isinstance(entry, str) else ""
        if "@" in text:
            if not jids.is_valid(text):
                raise _invalid("allowed_contacts", f"{text!r} is not a valid JID")
            value = jids.normalize(text)
        else:
            value = normalize_phone(text, field="allowed_contacts")
        if value not in cleaned:
            cleaned.append(value)
    return ",".join(cleaned) or None


def clean_disabled_tools(names: Iterable[str] | None) -> str | None:
    """MCP tool names (case-sensitive, as ``DISABLED_TOOLS``); ``None`` inherits the environment."""
    cleaned: list[str] = []
    for name in names or ():
        text = name.strip() if isinstance(name, str) else ""
        if not _TOOL_NAME.match(text):
            raise _invalid("disabled_tools", f"{name!r} is not a tool name")
        if text not in cleaned:
            cleaned.append(text)
    return ",".join(cleaned) or None


def clean_limit(field: str, value: int | None) -> int | None:
    """A per-minute limit of at least 1, or ``None`` for the environment default."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(field, "must be a positive integer or null")
    return value


def split_list(value: str | None) -> list[str] | None:
    """The stored comma-separated text as a list; ``None`` when it inherits the environment."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    return items or None


def _clean(field: str, value: Any) -> Any:
    if field == "name":
        return clean_name(value)
    if field == "is_active":
        if not isinstance(value, bool):
            raise _invalid("is_active", "must be a boolean")
        return value
    if field == "webhook_url":
        return clean_webhook_url(value)
    if field == "webhook_secret":
        return (value or "").strip()
    if field == "webhook_events":
        return clean_webhook_events(value)
    if field == "allowed_contacts":
        return clean_allowed_contacts(value)
    if field == "disabled_tools":
        return clean_disabled_tools(value)
    return clean_limit(field, value)


# --- use cases -----------------------------------------------------------------------------------


def list_apps(tenant: Tenant) -> QuerySet[App]:
    """The tenant's apps, oldest first, each annotated with ``live_devices`` (not destroyed)."""
    live = Count("devices", filter=~Q(devices__status=DeviceStatus.DESTROYED))
    return App.objects.filter(tenant=tenant).annotate(live_devices=live).order_by("created_at", "name")


def get_app(tenant: Tenant, app_id: uuid.UUID | str) -> App:
    """The tenant's app ``app_id``; ``NOT_FOUND`` for another tenant's app or a bad id."""
    try:
        pk = uuid.UUID(str(app_id))
    except ValueError:
        pk = None
    app = App.objects.filter(pk=pk, tenant=tenant).select_related("tenant").first() if pk else None
    if app is None:
        raise WhatsAppError(ErrorCode.NOT_FOUND, "No such app for this tenant.", details={"app_id": str(app_id)})
    return app


def _conflict(name: str) -> WhatsAppError:
    return WhatsAppError(ErrorCode.CONFLICT, f"The tenant already has an app named {name!r}.",
                         details={"field": "name", "name": name})


def _name_taken(tenant: Tenant, name: str, *, exclude: App | None = None) -> bool:
    others = App.objects.filter(tenant=tenant, name=name)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    return others.exists()


def create_app(tenant: Tenant, name: str, **settings: Any) -> tuple[App, str]:
    """A new app and its bearer token — the only time the token is visible (only its hash is stored).

    ``CONFLICT`` when the tenant already has an app of that name (exact, case-sensitive match, as the
    model's ``app_name_unique_per_tenant`` constraint enforces; checked first for a clear error, and
    the constraint settles a race)."""
    unknown = set(settings) - SETTINGS
    if unknown:
        raise TypeError(f"unknown app settings: {sorted(unknown)}")
    name = clean_name(name)
    fields = {field: _clean(field, value) for field, value in settings.items()}
    if _name_taken(tenant, name):
        raise _conflict(name)
    try:
        with transaction.atomic():
            return App.create_with_token(tenant, name, **fields)
    except IntegrityError:
        raise _conflict(name) from None


def update_app(app: App, **changes: Any) -> App:
    """Change the given fields only (a partial update). ``None`` resets a policy field to the
    environment default and clears the webhook URL, secret or event filter.

    Deactivating (``is_active=False``) refuses the app's token at once; its devices keep running.
    A new ``webhook_secret`` does not cut the old one off: deliveries carry signatures with both for
    ``WEBHOOK_SECRET_OVERLAP_S``, so receivers can switch over without rejecting anything.
    """
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise TypeError(f"unknown app fields: {sorted(unknown)}")
    cleaned = {field: _clean(field, value) for field, value in changes.items()}
    if "name" in cleaned and cleaned["name"] != app.name and _name_taken(app.tenant, cleaned["name"], exclude=app):
        raise _conflict(cleaned["name"])
    if not cleaned:
        return app
    fields = list(cleaned)
    for field, value in cleaned.items():
        if field == "webhook_secret":
            app.set_webhook_secret(value, timedelta(seconds=settings.WEBHOOK_SECRET_OVERLAP_S))
            fields += ["webhook_secret_previous", "webhook_secret_previous_until"]
        else:
            setattr(app, field, value)
    try:
        with transaction.atomic():
            app.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise _conflict(cleaned.get("name", app.name)) from None
    return app


def rotate_token(app: App) -> str:
    """A new token for ``app``; the old one is refused from this moment on."""
    return app.rotate_token()


@dataclass(frozen=True)
class DeletedApp:
    app: App
    devices_destroyed: int


def delete_app(app: App) -> DeletedApp:
    """Retire the app: destroy every live device (each runner logs out of WhatsApp and stops), refuse
    its token (deactivated, and the token replaced by one nobody holds), keep the row and its history.

    The row is kept rather than deleted because deleting cascades to the devices while their runners
    still hold WhatsApp sessions — they would stop without logging out, leaving linked devices on the
    users' phones — and because messages, media and the audit trail must outlive the app. Deleting
    again is harmless (nothing left to destroy). The name stays taken within the tenant.
    """
    destroyed = 0
    with transaction.atomic():
        for device in Device.objects.filter(app=app).exclude(status=DeviceStatus.DESTROYED).order_by("created_at"):
            destroy_device(device)
            destroyed += 1
        app.is_active = False
        app.save(update_fields=["is_active", "updated_at"])
        app.rotate_token()
    return DeletedApp(app=app, devices_destroyed=destroyed)


def live_device_count(app: App) -> int:
    return Device.objects.filter(app=app).exclude(status=DeviceStatus.DESTROYED).count()
