"""Last-known presence of a person (wa-server's ``GET /devices/{id}/presence``): a cache, never a live
question to WhatsApp.

The cache is the device's event log: every presence update WhatsApp pushes is ingested as a
``presence`` event (``{"jid", "status", "last_seen"}``), so the newest such event for the person —
under either of their addresses, phone JID or LID — is their last-known presence, and its time is
when we learned it. Nothing else needs to be stored.

WhatsApp pushes a person's presence only to clients that subscribed to it, and forgets the
subscriptions when the connection ends. So a query also asks the runner, without waiting, to
subscribe — once per connection and person — when the device is connected; a disconnected device
still answers from the cache.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from whatsapp.models import (
    CommandKind,
    CommandState,
    ConnectionState,
    Device,
    DeviceCommand,
    DeviceEvent,
    DeviceStatus,
    EventType,
)
from whatsapp.services.contacts import person_jid, stored_contact
from whatsapp.services.policies import ensure_allowed

logger = logging.getLogger("whatsapp.presence")

SUBSCRIBE_METHOD = "subscribe_presence"
# A subscription the runner has not started by then is dropped (the next query asks again).
SUBSCRIBE_TIMEOUT_S = 60.0


def _addresses(device: Device, jid: str) -> list[str]:
    """``jid`` and its twin, when the store knows it."""
    contact = stored_contact(device, jid)
    twins = [jid, *(contact.addresses if contact is not None else ())]
    return list(dict.fromkeys(twins))


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) and value else None


def last_presence(device: Device, jid: str) -> dict[str, Any]:
    """``{"jid", "status": online|offline|unknown, "last_seen", "updated_at"}`` for a person, from the
    presence events received so far (``unknown`` with null times when none was), and a presence
    subscription queued for them if this connection has none yet."""
    device.ensure_alive()
    target = person_jid(jid)
    ensure_allowed(device, target)
    event = (DeviceEvent.objects.filter(device=device, type=EventType.PRESENCE,
                                        payload__jid__in=_addresses(device, target))
             .order_by("-sequence").only("payload", "created_at").first())
    subscribe(device, target)
    if event is None:
        return {"jid": target, "status": "unknown", "last_seen": None, "updated_at": None}
    status = event.payload.get("status")
    return {"jid": target, "status": status if status in ("online", "offline") else "unknown",
            "last_seen": _when(event.payload.get("last_seen")), "updated_at": event.created_at}


def subscribe(device: Device, jid: str) -> bool:
    """Queue a presence subscription for ``jid`` unless the device is offline or one was already
    asked for since the device last connected. Never waits for the runner; returns whether one
    was queued."""
    if device.status != DeviceStatus.CONNECTED or device.connection_state != ConnectionState.OPEN:
        return False
    connected_at = (DeviceEvent.objects.filter(device=device, type=EventType.DEVICE_CONNECTED)
                    .order_by("-sequence").values_list("created_at", flat=True).first())
    asked = DeviceCommand.objects.filter(device=device, kind=CommandKind.CALL, payload__method=SUBSCRIBE_METHOD,
                                         payload__args__jid=jid).exclude(state=CommandState.FAILED)
    if connected_at is not None:
        asked = asked.filter(created_at__gte=connected_at)
    if asked.exists():
        return False
    DeviceCommand.enqueue(device.pk, CommandKind.CALL, {"method": SUBSCRIBE_METHOD, "args": {"jid": jid}},
                          timeout_s=SUBSCRIBE_TIMEOUT_S)
    logger.debug("device %s: subscribed to the presence of %s", device.pk, jid)
    return True
