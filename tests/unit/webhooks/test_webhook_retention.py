"""Finished deliveries are purged after their retention; open ones never are, and the media files
they point to are held back from media retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.unit.webhooks.conftest import deliver_all
from whatsapp.models import DeviceEvent, WebhookAttempt, WebhookDelivery
from whatsapp.models.webhooks import WebhookStream
from whatsapp.webhooks.services import media_paths_held, purge_finished


@pytest.mark.django_db
def test_open_deliveries_hold_their_media_paths(receiver, device) -> None:
    receiver.script = [500]
    held = DeviceEvent.append(device.pk, "message", {"message_id": "A", "media_path": "media/a/x-A.jpg"})
    DeviceEvent.append(device.pk, "message", {"message_id": "B", "media_path": "media/a/x-B.jpg"})
    DeviceEvent.append(device.pk, "message", {"message_id": "C", "media_path": None})
    DeviceEvent.append(device.pk, "receipt", {"message_ids": ["A"]})
    assert media_paths_held() == {"media/a/x-A.jpg", "media/a/x-B.jpg"}
    deliver_all()  # A fails (held, with B behind it)
    assert WebhookDelivery.objects.get(event=held).state == "failed"
    assert media_paths_held() == {"media/a/x-A.jpg", "media/a/x-B.jpg"}
    WebhookDelivery.objects.filter(event=held).update(state="succeeded")
    WebhookStream.objects.update(not_before=None)  # as if its retry had come and succeeded
    deliver_all()
    assert media_paths_held() == set()


@pytest.mark.django_db
def test_purge_removes_old_finished_deliveries_and_their_attempts(receiver, device, settings) -> None:
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    old_done, old_dead, old_open, recent = (DeviceEvent.append(device.pk, "message", {}) for _ in range(4))
    deliver_all()
    WebhookDelivery.objects.filter(event=old_dead).update(state="dead")
    WebhookDelivery.objects.filter(event=old_open).update(state="failed")
    long_ago = timezone.now() - timedelta(days=31)
    WebhookDelivery.objects.exclude(event=recent).update(created_at=long_ago)
    assert purge_finished() == 2
    assert set(WebhookDelivery.objects.values_list("event_id", flat=True)) == {old_open.pk, recent.pk}
    assert not WebhookAttempt.objects.filter(delivery__event__in=[old_done, old_dead]).exists()


@pytest.mark.django_db
def test_retention_zero_keeps_everything(receiver, device, settings) -> None:
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 0
    DeviceEvent.append(device.pk, "message", {})
    WebhookDelivery.objects.update(state="succeeded", created_at=timezone.now() - timedelta(days=999))
    assert purge_finished() == 0
