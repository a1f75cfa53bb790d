"""Per device and receiver, events arrive in ``sequence`` order: a failing event holds the later
ones back until it succeeds or is dead-lettered; replays re-enter the stream at their place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.factories import make_device
from tests.unit.webhooks.conftest import deliver_all, deliveries, emit, stream_of
from whatsapp.models import DeliveryState, WebhookDelivery
from whatsapp.webhooks import services

T0 = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_a_stream_is_delivered_in_sequence_order(receiver, device) -> None:
    events = emit(device, 30)
    deliver_all()
    assert receiver.sequences == [e.sequence for e in events]


@pytest.mark.django_db
def test_a_failing_event_holds_back_the_later_ones_until_it_succeeds(receiver, device) -> None:
    receiver.script = [500]
    with time_machine.travel(T0, tick=False) as clock:
        first, *rest = emit(device, 3)
        deliver_all()
        assert receiver.sequences == [first.sequence]  # 2 and 3 wait
        more = emit(device, 2)                          # new events wait too
        deliver_all()
        assert len(receiver.requests) == 1
        clock.move_to(T0 + timedelta(seconds=10))
        deliver_all()
    assert receiver.sequences == [first.sequence, first.sequence] + [e.sequence for e in rest + more]
    assert {d.state for d in deliveries(device)} == {DeliveryState.SUCCEEDED}


@pytest.mark.django_db
def test_a_dead_event_stops_holding_the_stream(receiver, device, settings) -> None:
    settings.WEBHOOK_RETRY_WINDOW_S = 60
    receiver.script = [500, 500, 500, 500]
    with time_machine.travel(T0, tick=False) as clock:
        first, second = emit(device, 2)
        for _ in range(5):
            deliver_all()
            head = WebhookDelivery.objects.get(event=first)
            if head.state == DeliveryState.DEAD:
                break
            clock.move_to(head.next_attempt_at)
    assert head.state == DeliveryState.DEAD
    assert receiver.sequences[-1] == second.sequence
    assert WebhookDelivery.objects.get(event=second).state == DeliveryState.SUCCEEDED


@pytest.mark.django_db
def test_streams_of_two_devices_do_not_hold_each_other(receiver, hooked_app) -> None:
    slow, fast = make_device(hooked_app), make_device(hooked_app)
    receiver.script = [500]
    emit(slow)
    deliver_all()
    emit(fast, 2)
    deliver_all()
    assert [r.json["device_id"] for r in receiver.requests] == [str(slow.pk)] + [str(fast.pk)] * 2


@pytest.mark.django_db
def test_replaying_a_dead_delivery_sends_it_again_with_the_same_id(receiver, device) -> None:
    [event] = emit(device)
    delivery = WebhookDelivery.objects.get(event=event)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.DEAD, attempts=4)
    replayed = services.redeliver(delivery)
    assert (replayed.state, replayed.replays, replayed.retry_until) == ("pending", 1, None)
    deliver_all()
    delivery.refresh_from_db()
    assert delivery.state == "succeeded"
    assert delivery.attempts == 5
    assert receiver.requests[0].headers["X-Wa-Request-Id"] == str(delivery.request_id)


@pytest.mark.django_db
def test_a_replay_goes_now_even_when_the_stream_waits_for_a_retry(receiver, device) -> None:
    receiver.script = [200, 500]
    with time_machine.travel(T0, tick=False):
        done, failing = emit(device, 2)
        deliver_all()
        assert stream_of(device).not_before == T0 + timedelta(seconds=10)
        services.redeliver(WebhookDelivery.objects.get(event=done))
        deliver_all()
    # the replayed (earlier) event went at once; the failing head still waits for its retry time
    assert receiver.sequences == [done.sequence, failing.sequence, done.sequence]
    assert WebhookDelivery.objects.get(event=failing).state == "failed"


@pytest.mark.django_db
def test_removing_the_webhook_url_dead_letters_what_was_waiting(receiver, device, hooked_app) -> None:
    emit(device, 2)
    hooked_app.webhook_url = ""
    hooked_app.save()
    deliver_all()
    assert not receiver.requests
    assert {(d.state, d.last_error_code) for d in deliveries(device)} == {("dead", "WEBHOOK_NOT_CONFIGURED")}


@pytest.mark.django_db
def test_a_url_fixed_after_failures_gets_the_retries(receiver, device, hooked_app, settings) -> None:
    good = hooked_app.webhook_url
    hooked_app.webhook_url = good.replace("/hooks/wa", "/wrong-path")  # the receiver answers 500 there
    hooked_app.save()
    with time_machine.travel(T0, tick=False) as clock:
        emit(device)
        deliver_all()
        assert deliveries(device)[0].state == "failed"
        hooked_app.webhook_url = good
        hooked_app.save()
        clock.move_to(T0 + timedelta(seconds=10))
        deliver_all()
    [delivery] = deliveries(device)
    assert delivery.state == "succeeded"
    assert delivery.url == good
