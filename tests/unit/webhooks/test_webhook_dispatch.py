"""The dispatcher leases each due stream to one task at a time, caps the streams per receiver, and
hands a stream out again when its task never ran (the lease runs out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.factories import make_app, make_device
from tests.unit.webhooks.conftest import deliveries, emit, run_dispatch, stream_of
from whatsapp.models.webhooks import WebhookStream
from whatsapp.webhooks import dispatcher
from whatsapp.webhooks.delivery import deliver_stream, lease_seconds

T0 = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_a_due_stream_is_leased_once(receiver, device) -> None:
    emit(device, 3)
    [(stream_id, token)] = run_dispatch()
    assert run_dispatch() == []  # leased: not handed out twice
    stream = WebhookStream.objects.get(pk=stream_id)
    assert str(stream.lease_token) == token
    assert stream.device_id == device.pk
    assert deliver_stream(stream_id, token).attempted == 3
    assert WebhookStream.objects.get(pk=stream_id).lease_token is None


@pytest.mark.django_db
def test_a_task_with_a_stale_lease_does_nothing(receiver, device) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        emit(device)
        [(stream_id, stale)] = run_dispatch()
        clock.move_to(T0 + timedelta(seconds=lease_seconds() + 1))  # that task never ran
        [(same_stream, fresh)] = run_dispatch()
        assert same_stream == stream_id
        assert fresh != stale
        assert deliver_stream(stream_id, stale).attempted == 0
        assert not receiver.requests
        assert deliver_stream(stream_id, fresh).attempted == 1


@pytest.mark.django_db
def test_a_stream_waiting_for_its_retry_is_not_handed_out(receiver, device) -> None:
    receiver.script = [500]
    with time_machine.travel(T0, tick=False) as clock:
        emit(device, 2)
        [(stream_id, token)] = run_dispatch()
        deliver_stream(stream_id, token)
        assert run_dispatch() == []
        assert dispatcher.dispatch_due(lambda *_: None) == pytest.approx(10.0)  # sleeps until the retry
        clock.move_to(T0 + timedelta(seconds=10))
        assert [s for s, _ in run_dispatch()] == [stream_id]


@pytest.mark.django_db
def test_streams_to_one_receiver_are_capped(receiver, hooked_app, settings) -> None:
    settings.WEBHOOK_ENDPOINT_CONCURRENCY = 2
    devices = [make_device(hooked_app) for _ in range(4)]
    other = make_device(make_app(webhook_url="https://elsewhere.example.test/hook"))
    for device in [*devices, other]:
        emit(device)
    handed = run_dispatch()
    by_device = {WebhookStream.objects.get(pk=s).device_id for s, _ in handed}
    assert len(by_device & {d.pk for d in devices}) == 2  # the cap of the busy receiver
    assert other.pk in by_device                           # another receiver is not starved
    for stream_id, token in handed:
        if WebhookStream.objects.get(pk=stream_id).device_id != other.pk:
            deliver_stream(stream_id, token)
    assert len(run_dispatch()) == 2                        # freed slots go to the waiting streams


@pytest.mark.django_db
def test_a_lost_lease_stops_the_run_without_writing(receiver, device) -> None:
    emit(device, 2)
    [(stream_id, token)] = run_dispatch()
    WebhookStream.objects.filter(pk=stream_id).update(leased_until=T0)  # as if it had run out long ago
    WebhookStream.objects.filter(pk=stream_id).update(lease_token=None)  # …and another took it
    result = deliver_stream(stream_id, token)
    assert result.attempted == 0
    assert {d.state for d in deliveries(device)} == {"pending"}


@pytest.mark.django_db
def test_idle_dispatcher_sleeps_long(db) -> None:
    assert dispatcher.dispatch_due(lambda *_: None) == dispatcher.IDLE_WAIT_S


@pytest.mark.django_db
def test_an_app_with_nothing_open_gets_no_stream(receiver, device) -> None:
    assert run_dispatch() == []
    assert not WebhookStream.objects.exists()
    emit(device)
    run_dispatch()
    assert stream_of(device).endpoint.startswith("http://localhost:")


@pytest.mark.django_db
def test_a_backlog_is_one_stream_per_device_not_one_per_delivery(receiver, hooked_app) -> None:
    busy, quiet = make_device(hooked_app), make_device(hooked_app)
    emit(quiet, 1)
    emit(busy, 40)  # newest first (the deliveries' default order) puts the busy device's rows on top
    original = dispatcher.MAX_STREAMS
    dispatcher.MAX_STREAMS = 2  # the due query reads 4 rows: duplicates would crowd the quiet device out
    try:
        handed = run_dispatch()
    finally:
        dispatcher.MAX_STREAMS = original
    assert {WebhookStream.objects.get(pk=s).device_id for s, _ in handed} == {busy.pk, quiet.pk}


@pytest.mark.django_db
def test_under_the_cap_the_stream_waiting_longest_goes_first(receiver, hooked_app, settings) -> None:
    settings.WEBHOOK_ENDPOINT_CONCURRENCY = 1
    devices = [make_device(hooked_app) for _ in range(3)]
    with time_machine.travel(T0, tick=False) as clock:
        for i, device in enumerate(devices):  # written first, but the newest: the last device waits longest
            clock.move_to(T0 + timedelta(seconds=len(devices) - i))
            emit(device)
        served = []
        for i in range(3):
            clock.move_to(T0 + timedelta(seconds=10 + i))
            [(stream_id, token)] = run_dispatch()
            served.append(WebhookStream.objects.get(pk=stream_id).device_id)
            deliver_stream(stream_id, token)
            emit(WebhookStream.objects.get(pk=stream_id).device)  # a served device has more at once
    assert served == [d.pk for d in reversed(devices)]


def test_one_receiver_never_gets_more_than_half_the_workers_threads(settings) -> None:
    settings.WEBHOOK_ENDPOINT_CONCURRENCY = 12
    assert [dispatcher.endpoint_cap(n) for n in (None, 1, 4, 24, 100)] == [12, 1, 2, 12, 12]
