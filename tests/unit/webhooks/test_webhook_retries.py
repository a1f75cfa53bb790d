"""Failed attempts are retried at 10 s, 30 s and 90 s, then exponentially, for 24 h, then the delivery
is dead-lettered — on a 500, a timeout and a refused connection alike (the clock is moved, not
waited for)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from werkzeug import Response

from tests.factories import make_app, make_device
from tests.support.processes import free_port
from tests.unit.webhooks.conftest import deliver_all, deliveries, emit, stream_of
from whatsapp.models import WebhookAttempt
from whatsapp.webhooks.schedule import next_attempt, retry_delay

T0 = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


def test_the_first_three_retries_follow_wa_servers_fixed_schedule() -> None:
    assert [retry_delay(n) for n in (1, 2, 3)] == [10.0, 30.0, 90.0]


def test_later_retries_grow_exponentially_with_bounded_jitter() -> None:
    rng = random.Random(7)
    for failures, base in ((4, 270.0), (5, 810.0), (6, 2430.0)):
        delays = [retry_delay(failures, rng) for _ in range(200)]
        assert all(0.8 * base <= d <= 1.2 * base for d in delays)
        assert len(set(delays)) > 100  # jittered, not all alike
    assert retry_delay(30, rng) <= 6 * 3600 * 1.2  # each wait is capped


def test_no_retry_past_the_window_and_the_last_one_lands_on_its_end() -> None:
    until = T0 + timedelta(hours=24)
    assert next_attempt(3, T0, until) == T0 + timedelta(seconds=90)
    assert next_attempt(9, until - timedelta(minutes=1), until) == until
    assert next_attempt(10, until, until) is None


def _walk_schedule(receiver_script_size: int, receiver, device) -> list[tuple[int, float]]:
    """Fail ``receiver_script_size`` times then succeed; returns (attempt, seconds after T0) pairs."""
    seen = []
    with time_machine.travel(T0, tick=False) as clock:
        emit(device)
        for _ in range(receiver_script_size + 1):
            deliver_all()
            [delivery] = deliveries(device)
            seen.append((delivery.attempts, (delivery.last_attempt_at - T0).total_seconds()))
            if delivery.state != "failed":
                break
            clock.move_to(delivery.next_attempt_at)
    return seen


@pytest.mark.django_db
def test_500s_are_retried_on_the_exact_schedule_then_delivered_once(receiver, device) -> None:
    receiver.script = [500, 503, 500]
    seen = _walk_schedule(3, receiver, device)
    assert seen == [(1, 0.0), (2, 10.0), (3, 40.0), (4, 130.0)]
    [delivery] = deliveries(device)
    assert delivery.state == "succeeded"
    assert delivery.last_error_code == ""
    ids = {r.headers["X-Wa-Request-Id"] for r in receiver.requests}
    bodies = {r.body for r in receiver.requests}
    assert ids == {str(delivery.request_id)}
    assert len(bodies) == 1
    log = list(WebhookAttempt.objects.filter(delivery=delivery).values_list("number", "status_code", "error_code"))
    assert log == [(1, 500, "WEBHOOK_DELIVERY_FAILED"), (2, 503, "WEBHOOK_DELIVERY_FAILED"),
                   (3, 500, "WEBHOOK_DELIVERY_FAILED"), (4, 200, "")]


@pytest.mark.django_db
def test_a_receiver_too_slow_to_answer_times_out_and_is_retried(receiver, device, settings) -> None:
    settings.WEBHOOK_TIMEOUT_S = 1

    def slow() -> Response:
        time.sleep(1.5)
        return Response("late")

    receiver.script = [slow]
    with time_machine.travel(T0, tick=False):
        emit(device)
        deliver_all()
    [delivery] = deliveries(device)
    assert (delivery.state, delivery.last_error_code) == ("failed", "CONNECTION_TIMEOUT")
    assert delivery.next_attempt_at == T0 + timedelta(seconds=10)
    assert stream_of(device).not_before == delivery.next_attempt_at


@pytest.mark.django_db
def test_a_refused_connection_is_retried(settings) -> None:
    settings.ALLOW_PRIVATE_URLS = True
    device = make_device(make_app(webhook_url=f"http://127.0.0.1:{free_port()}/nobody-listens"))
    with time_machine.travel(T0, tick=False):
        emit(device)
        deliver_all()
    [delivery] = deliveries(device)
    assert (delivery.state, delivery.last_error_code, delivery.last_status_code) == (
        "failed", "WEBHOOK_DELIVERY_FAILED", None)
    assert "ConnectError" in delivery.last_error
    assert delivery.next_attempt_at == T0 + timedelta(seconds=10)


@pytest.mark.django_db
def test_still_failing_after_24_hours_is_dead_lettered(receiver, device) -> None:
    receiver.default = 500
    with time_machine.travel(T0, tick=False) as clock:
        emit(device)
        for _ in range(40):
            deliver_all()
            [delivery] = deliveries(device)
            if delivery.state == "dead":
                break
            clock.move_to(delivery.next_attempt_at)
    assert delivery.state == "dead"
    assert delivery.last_attempt_at == T0 + timedelta(hours=24)  # the last try is at the window's end
    assert 8 <= delivery.attempts <= 12
    assert len(receiver.requests) == delivery.attempts


@pytest.mark.django_db
def test_a_private_address_is_refused_without_a_request(settings, db) -> None:
    settings.ALLOW_PRIVATE_URLS = False
    device = make_device(make_app(webhook_url="http://127.0.0.1:9/internal"))
    with time_machine.travel(T0, tick=False):
        emit(device)
        deliver_all()
    [delivery] = deliveries(device)
    assert (delivery.state, delivery.last_error_code) == ("failed", "WEBHOOK_URL_FORBIDDEN")


@pytest.mark.django_db
def test_a_relative_path_without_base_url_fails_as_not_configured(settings, db) -> None:
    settings.WEBHOOK_BASE_URL = ""
    device = make_device(make_app(webhook_url="/hooks/wa"))
    emit(device)
    deliver_all()
    [delivery] = deliveries(device)
    assert (delivery.state, delivery.last_error_code) == ("failed", "WEBHOOK_NOT_CONFIGURED")


@pytest.mark.django_db
def test_a_relative_path_goes_to_the_base_url(receiver, settings) -> None:
    base, path = receiver.url.rsplit("/hooks/wa", 1)[0], "/hooks/wa"
    settings.WEBHOOK_BASE_URL = base
    device = make_device(make_app(webhook_url=path))
    emit(device)
    deliver_all()
    assert len(receiver.requests) == 1
    assert deliveries(device)[0].url == receiver.url
