"""Finding what a request names, inside the caller's app only: another app's device, message or
media is ``not_found`` (404), never ``forbidden`` — its existence is not disclosed."""

from __future__ import annotations

import uuid

from django.http import HttpRequest

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import App, Device


def app_of(request: HttpRequest) -> App:
    return request.auth


def device_of(request: HttpRequest, device_id: uuid.UUID, *, alive: bool = True) -> Device:
    """The caller's device ``device_id``; ``device_destroyed`` (410) when ``alive`` is asked and it is
    destroyed. Remembered on the request for the audit log."""
    device = getattr(request, "api_device", None)  # already checked by the app-token auth
    if device is None or device.pk != device_id:
        device = Device.objects.select_related("app").filter(pk=device_id, app=app_of(request)).first()
    if device is None:
        raise WhatsAppError(ErrorCode.NOT_FOUND, "No such device for this app.", details={"device_id": str(device_id)})
    request.api_device = device
    if alive:
        device.ensure_alive()
    return device


def path_text(value: str, field: str) -> str:
    """A path parameter as the services get it; NUL cannot be queried on PostgreSQL (it would be a 500)."""
    if "\x00" in value:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"{field} must not contain NUL characters.",
                            details={"field": field})
    return value
