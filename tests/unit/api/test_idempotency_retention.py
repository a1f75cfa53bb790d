"""Idempotency keys live 24 hours: beat purges older rows, and an old key is free again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.beat import BEAT_SCHEDULE
from tests.factories import connected_device, make_message
from whatsapp.models import IdempotencyKey
from whatsapp.tasks import purge_idempotency_keys


def key_row(app, key: str, age: timedelta) -> IdempotencyKey:
    device = connected_device(app)
    row = IdempotencyKey.objects.create(app=app, key=key, fingerprint="f" * 64, device=device,
                                        message=make_message(device))
    IdempotencyKey.objects.filter(pk=row.pk).update(created_at=timezone.now() - age)
    return row


@pytest.mark.django_db
def test_beat_purges_keys_older_than_a_day(app) -> None:
    key_row(app, "old", timedelta(hours=25))
    fresh = key_row(app, "fresh", timedelta(hours=23))
    assert purge_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.all()) == [fresh]
    assert any(entry["task"] == purge_idempotency_keys.name for entry in BEAT_SCHEDULE.values())


@pytest.mark.django_db
def test_an_expired_key_is_not_found_before_the_purge(app) -> None:
    key_row(app, "old", timedelta(hours=25))
    assert IdempotencyKey.find(app, "old") is None
    assert IdempotencyKey.find(app, "new") is None
