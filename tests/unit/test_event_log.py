"""The per-device event log: sequences start at 1, increase by one, never skip, never repeat."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import transaction

from tests.factories import make_device
from whatsapp.models import Device, DeviceEvent, EventType

pytestmark = pytest.mark.django_db


def sequences(device: Device) -> list[int]:
    return list(DeviceEvent.objects.filter(device=device).order_by("sequence").values_list("sequence", flat=True))


def test_first_event_of_a_device_is_number_one() -> None:
    device = make_device()
    event = DeviceEvent.append(device.pk, EventType.MESSAGE, {"text": "hi"})
    assert event.sequence == 1


def test_sequence_increases_by_one_per_event() -> None:
    device = make_device()
    numbers = [DeviceEvent.append(device.pk, EventType.MESSAGE).sequence for _ in range(5)]
    assert numbers == [1, 2, 3, 4, 5]
    assert sequences(device) == [1, 2, 3, 4, 5]


def test_device_counter_follows_the_log() -> None:
    device = make_device()
    for _ in range(3):
        device.append_event(EventType.RECEIPT)
    device.refresh_from_db()
    assert device.event_sequence == 3


def test_sequences_are_independent_per_device() -> None:
    first, second = make_device(), make_device()
    DeviceEvent.append(first.pk, EventType.MESSAGE)
    DeviceEvent.append(first.pk, EventType.MESSAGE)
    DeviceEvent.append(second.pk, EventType.MESSAGE)
    DeviceEvent.append(first.pk, EventType.MESSAGE)
    DeviceEvent.append(second.pk, EventType.MESSAGE)
    assert sequences(first) == [1, 2, 3]
    assert sequences(second) == [1, 2]


def test_lifecycle_events_share_the_device_sequence() -> None:
    device = make_device()
    device.append_event(EventType.WARNING, {"text": "first"})
    device.mark_connected("15550001111@s.whatsapp.net")
    device.append_event(EventType.MESSAGE)
    types = list(DeviceEvent.objects.filter(device=device).order_by("sequence").values_list("type", flat=True))
    assert types == [EventType.WARNING, EventType.DEVICE_CONNECTED, EventType.MESSAGE]
    assert sequences(device) == [1, 2, 3]


def test_rolled_back_append_leaves_no_gap() -> None:
    device = make_device()
    DeviceEvent.append(device.pk, EventType.MESSAGE)

    def append_then_fail() -> None:
        with transaction.atomic():
            DeviceEvent.append(device.pk, EventType.MESSAGE)
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError):
        append_then_fail()
    assert sequences(device) == [1]
    assert DeviceEvent.append(device.pk, EventType.MESSAGE).sequence == 2
    assert sequences(device) == [1, 2]


def test_append_for_a_missing_device_raises_and_stores_nothing() -> None:
    with pytest.raises(Device.DoesNotExist):
        DeviceEvent.append(uuid.uuid4(), EventType.MESSAGE)
    assert not DeviceEvent.objects.exists()


def test_payload_defaults_to_an_empty_object() -> None:
    event = DeviceEvent.append(make_device().pk, EventType.PRESENCE)
    event.refresh_from_db()
    assert event.payload == {}


def test_payload_keeps_datetimes_and_uuids_as_json() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    event = DeviceEvent.append(make_device().pk, EventType.MESSAGE, {"at": at, "id": ident})
    event.refresh_from_db()
    assert event.payload == {"at": "2025-01-02T03:04:05Z", "id": str(ident)}


@pytest.mark.django_db
def test_append_many_takes_consecutive_sequences_in_order() -> None:
    device = make_device()
    DeviceEvent.append(device.pk, EventType.MESSAGE)
    appended = DeviceEvent.append_many(device.pk, [(EventType.MESSAGE, {"n": 1}), (EventType.RECEIPT, {"n": 2})])
    assert [(e.sequence, e.type, e.payload) for e in appended] == [(2, "message", {"n": 1}), (3, "receipt", {"n": 2})]
    assert sequences(device) == [1, 2, 3]
    assert DeviceEvent.append(device.pk, EventType.MESSAGE).sequence == 4
    assert DeviceEvent.append_many(device.pk, []) == []
