"""Fixtures for the webhook tests: a real HTTP receiver (pytest-httpserver) that records every
request and answers as the test scripts it, and an app whose webhook points there."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug import Request, Response

from tests.factories import make_app, make_device
from whatsapp.models import App, Device, DeviceEvent, WebhookDelivery
from whatsapp.models.webhooks import WebhookStream
from whatsapp.webhooks import delivery as delivery_module
from whatsapp.webhooks.dispatcher import dispatch_due

SECRET = "receiver-secret"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the receiver got, and how it answers next (a queue of statuses; then ``default``)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    script: list[int | Callable[[], Response]] = field(default_factory=list)
    default: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(Received(dict(request.headers), request.get_data()))
            answer = self.script.pop(0) if self.script else self.default
        if callable(answer):
            return answer()
        return Response("ok" if answer < 300 else "receiver says no", status=answer)

    @property
    def sequences(self) -> list[int]:
        return [r.json["sequence"] for r in self.requests]


@pytest.fixture
def receiver(httpserver, settings) -> Receiver:
    settings.ALLOW_PRIVATE_URLS = True  # the receiver listens on loopback
    url = httpserver.url_for("/hooks/wa")
    recv = Receiver(url=url)
    httpserver.expect_request("/hooks/wa", method="POST").respond_with_handler(recv.handle)
    return recv


@pytest.fixture
def hooked_app(db, receiver) -> App:
    return make_app(webhook_url=receiver.url, webhook_secret=SECRET)


@pytest.fixture
def device(hooked_app) -> Device:
    return make_device(hooked_app)


def emit(device: Device, n: int = 1, type: str = "message") -> list[DeviceEvent]:
    return DeviceEvent.append_many(device.pk, [(type, {"message_id": f"M{i}", "text": f"hello {i}"})
                                               for i in range(n)])


def run_dispatch() -> list[tuple[int, str]]:
    """One dispatcher pass; returns the (stream, lease) pairs it handed out."""
    handed: list[tuple[int, str]] = []
    dispatch_due(lambda stream_id, token: handed.append((stream_id, token)))
    return handed


def deliver_all() -> int:
    """Dispatch and deliver until nothing is due now; returns the attempts made."""
    attempts = 0
    for _ in range(50):
        handed = run_dispatch()
        if not handed:
            return attempts
        for stream_id, token in handed:
            attempts += delivery_module.deliver_stream(stream_id, token).attempted
    raise AssertionError("deliveries kept falling due")


def deliveries(device: Device) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(device=device).order_by("sequence"))


def stream_of(device: Device) -> WebhookStream:
    return WebhookStream.objects.get(device=device)
