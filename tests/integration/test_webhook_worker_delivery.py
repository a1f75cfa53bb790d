"""Webhook delivery by real Celery workers on PostgreSQL and Redis, to a real HTTP receiver.

The test process appends events (as runners do); a ``celery worker -Q default`` subprocess runs the
dispatcher and the delivery tasks. The retry delays are shortened through the environment
(``WEBHOOK_RETRY_DELAYS_S``) so an outage fits in seconds; the schedule itself is tested exactly in
``tests/unit/webhooks/test_webhook_retries.py``.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter, defaultdict

import pytest
from standardwebhooks import Webhook

from tests.factories import make_app, make_device
from tests.support.processes import start_celery_worker, wait_until
from tests.support.webhook_receiver import WebhookReceiver
from whatsapp.models import DeviceEvent, WebhookAttempt, WebhookDelivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SECRET = "integration-webhook-secret"


@pytest.fixture
def receiver():
    recv = WebhookReceiver().start()
    yield recv
    recv.stop()


def test_a_delivery_retried_across_a_killed_worker_completes_once(worker_env, tmp_path, receiver, settings) -> None:
    settings.ALLOW_PRIVATE_URLS = True
    device = make_device(make_app(webhook_url=receiver.url, webhook_secret=SECRET))
    receiver.status = 500
    worker = start_celery_worker(worker_env, tmp_path, "worker-a")
    try:
        [event] = DeviceEvent.append_many(device.pk, [("message", {"message_id": "ABC", "text": "hi"})])
        delivery = WebhookDelivery.objects.get(event=event)
        wait_until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).state == "failed", 20,
                   what="the first attempt to fail")
        os.killpg(worker.process.pid, signal.SIGKILL)  # the worker dies between two attempts
        worker.stop()
    finally:
        worker.stop()
    receiver.status = 200
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    wait_until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).next_attempt_at is not None, 1)
    time.sleep(max(0.0, (delivery.next_attempt_at.timestamp() - time.time())) + 1.0)
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 1  # nobody delivers while no worker runs

    restarted = start_celery_worker(worker_env, tmp_path, "worker-b")
    try:
        wait_until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).state == "succeeded", 30,
                   what="the retry by the restarted worker")
        time.sleep(2)  # room for a duplicate, should there be one
    finally:
        restarted.stop()
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert [hit.status for hit in receiver.hits] == [500, 200]
    assert {hit.headers["X-WA-Request-ID"] for hit in receiver.hits} == {str(delivery.request_id)}
    assert list(WebhookAttempt.objects.filter(delivery=delivery).values_list("number", "status_code")) == [
        (1, 500), (2, 200)]


def test_a_receiver_down_then_back_gets_every_event_once_in_order(worker_env, tmp_path, receiver,
                                                                  settings) -> None:
    """SPEC §7's promise in small: while the receiver refuses connections events pile up (and keep
    coming); once it is back it gets every one, verified, once per id, in sequence order per device."""
    settings.ALLOW_PRIVATE_URLS = True
    app = make_app(webhook_url=receiver.url, webhook_secret=SECRET)
    devices = [make_device(app) for _ in range(3)]
    worker = start_celery_worker(worker_env, tmp_path, "worker-outage")
    try:
        receiver.stop()
        for round_ in range(10):
            for device in devices:
                DeviceEvent.append_many(device.pk, [("message", {"message_id": f"{device.pk}-{round_}-{i}"})
                                                    for i in range(3)])
            time.sleep(0.3)
        wait_until(lambda: WebhookDelivery.objects.filter(state="failed").count() == 3, 20,
                   what="each device's head to fail")
        time.sleep(2)
        receiver.start()
        total = 3 * 10 * 3
        wait_until(lambda: WebhookDelivery.objects.filter(state="succeeded").count() == total, 60,
                   what="every delivery to succeed once the receiver is back")
        time.sleep(1)
    finally:
        worker.stop()

    accepted = receiver.accepted()
    ids = Counter(hit.headers["X-WA-Request-ID"] for hit in accepted)
    assert len(ids) == 3 * 10 * 3
    assert set(ids.values()) == {1}
    per_device: dict[str, list[int]] = defaultdict(list)
    for hit in accepted:
        body = Webhook(SECRET.encode()).verify(hit.body, hit.headers)  # signed as it was sent
        per_device[body["device_id"]].append(body["sequence"])
    for sequences in per_device.values():
        assert sequences == sorted(sequences)
        assert len(sequences) == 30
    assert not [hit for hit in receiver.hits if hit.status >= 300]  # down meant refused, not 5xx
    assert WebhookDelivery.objects.filter(attempts__gt=1).count() >= 3  # the heads were retried
