"""The body of a delivery: wa-server's envelope plus the device's ``sequence``.

```json
{"event": "message", "device_id": "…", "app_id": "…", "timestamp": "2026-04-22T15:00:00Z",
 "request_id": "…", "sequence": 42, "payload": {…}}
```

``timestamp`` is when the event happened (not when this attempt was made: that is the signed
``X-WA-Timestamp``), so every attempt and replay of one delivery carries the very same body.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from whatsapp.models import DeviceEvent, WebhookDelivery


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(delivery: WebhookDelivery, event: DeviceEvent) -> dict[str, Any]:
    return {
        "event": event.type,
        "device_id": str(delivery.device_id),
        "app_id": str(delivery.app_id),
        "timestamp": rfc3339(event.created_at),
        "request_id": str(delivery.request_id),
        "sequence": event.sequence,
        "payload": event.payload,
    }


def body(delivery: WebhookDelivery, event: DeviceEvent) -> bytes:
    return json.dumps(envelope(delivery, event), cls=DjangoJSONEncoder, ensure_ascii=False,
                      separators=(",", ":")).encode()
