"""Finding things by what a person types: a device by id or name."""

from __future__ import annotations

import uuid

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Device, DeviceStatus


def find_device(ref: str) -> Device:
    """The device whose UUID is ``ref``, or the one live device named ``ref``."""
    ref = (ref or "").strip()
    try:
        return Device.objects.select_related("app").get(pk=uuid.UUID(ref))
    except (ValueError, Device.DoesNotExist):
        pass
    matches = list(Device.objects.select_related("app").filter(name=ref).exclude(status=DeviceStatus.DESTROYED))
    if not matches:
        raise WhatsAppError(ErrorCode.NOT_FOUND, f"No device with id or name {ref!r}.", details={"device": ref})
    if len(matches) > 1:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, f"Several devices are named {ref!r}; use an id.",
                            details={"device": ref, "candidates": [str(d.pk) for d in matches]})
    return matches[0]
