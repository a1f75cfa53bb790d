"""whatsapp.services.throttles: the outbound and download sliding windows (reference §1.10) and the
authentication throttle (§1.11), on ThrottleHit rows, with the clock moved by time_machine."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from tests.factories import make_app, make_device
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Device
from whatsapp.models.throttles import ThrottleHit
from whatsapp.services import throttles
from whatsapp.services.throttles import check_auth, limit_for, purge_old_hits, record_auth, reset_auth_cooldown, take

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def refused(call, *args) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as info:
        call(*args)
    return info.value


def hits(device: Device, kind: str) -> int:
    return ThrottleHit.objects.filter(key=f"{kind}:{device.pk}").count()


# --- limits -----------------------------------------------------------------------------------


def test_limits_come_from_the_environment_by_default(settings):
    settings.RATE_LIMIT_PER_MIN, settings.DOWNLOAD_RATE_LIMIT_PER_MIN = 60, 30
    device = make_device()
    assert (limit_for(device, "outbound"), limit_for(device, "download")) == (60, 30)


def test_the_app_overrides_the_environment_and_the_device_overrides_the_app_for_outbound(settings):
    settings.RATE_LIMIT_PER_MIN, settings.DOWNLOAD_RATE_LIMIT_PER_MIN = 60, 30
    device = make_device(make_app(rate_limit_per_min=7, download_rate_limit_per_min=3))
    assert (limit_for(device, "outbound"), limit_for(device, "download")) == (7, 3)
    device.rate_limit_per_min = 2
    assert (limit_for(device, "outbound"), limit_for(device, "download")) == (2, 3)


def test_an_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown limit"):
        take(make_device(), "upload")


# --- the sliding window -----------------------------------------------------------------------


def test_the_window_refuses_the_token_after_the_limit(settings, clock):
    settings.RATE_LIMIT_PER_MIN = 3
    device = make_device()
    for second in (0, 0.5, 10.2):
        clock.move_to(at(second))
        take(device, "outbound")
    clock.move_to(at(20.7))
    error = refused(take, device, "outbound")
    assert error.code is ErrorCode.MESSAGE_RATE_LIMITED
    assert error.retry_after_s == 40  # the hit at 0 leaves at 60: 39.3 s, rounded up
    assert error.details == {"limit": 3, "window_s": 60, "retry_after_s": 40}
    assert "3 outbound operations per minute" in error.message
    assert "RATE_LIMIT_PER_MIN" in error.message
    assert "40 s" in error.message


def test_the_window_slides(settings, clock):
    settings.RATE_LIMIT_PER_MIN = 2
    device = make_device()
    take(device, "outbound")
    clock.move_to(at(30))
    take(device, "outbound")
    clock.move_to(at(59.999))
    assert refused(take, device, "outbound").retry_after_s == 1
    clock.move_to(at(60))  # the first hit has left the window
    take(device, "outbound")
    clock.move_to(at(75))
    assert refused(take, device, "outbound").retry_after_s == 15  # the hit at 30 leaves at 90
    clock.move_to(at(90))
    take(device, "outbound")


def test_a_refused_take_consumes_nothing(settings, clock):
    settings.RATE_LIMIT_PER_MIN = 1
    device = make_device()
    take(device, "outbound")
    for second in (1, 2, 30, 59):
        clock.move_to(at(second))
        refused(take, device, "outbound")
    assert hits(device, "outbound") == 1
    clock.move_to(at(60))
    take(device, "outbound")


def test_download_tokens_are_a_separate_window(settings, clock):
    settings.RATE_LIMIT_PER_MIN, settings.DOWNLOAD_RATE_LIMIT_PER_MIN = 1, 2
    device = make_device()
    take(device, "outbound")
    take(device, "download")
    take(device, "download")
    error = refused(take, device, "download")
    assert error.code is ErrorCode.MEDIA_RATE_LIMITED
    assert error.details == {"limit": 2, "window_s": 60, "retry_after_s": 60}
    assert "DOWNLOAD_RATE_LIMIT_PER_MIN" in error.message
    assert refused(take, device, "outbound").code is ErrorCode.MESSAGE_RATE_LIMITED


def test_each_device_has_its_own_window(settings, clock):
    settings.RATE_LIMIT_PER_MIN = 1
    first, second = make_device(), make_device()
    take(first, "outbound")
    take(second, "outbound")
    refused(take, first, "outbound")


def test_the_app_s_limit_applies(settings, clock):
    settings.RATE_LIMIT_PER_MIN, settings.DOWNLOAD_RATE_LIMIT_PER_MIN = 100, 100
    device = make_device(make_app(rate_limit_per_min=2, download_rate_limit_per_min=1))
    take(device, "outbound")
    take(device, "outbound")
    assert refused(take, device, "outbound").details["limit"] == 2
    take(device, "download")
    assert refused(take, device, "download").details["limit"] == 1


def test_the_state_is_in_the_database_not_the_instance(settings, clock):
    settings.RATE_LIMIT_PER_MIN = 1
    device = make_device()
    take(device, "outbound")
    refused(take, Device.objects.get(pk=device.pk), "outbound")  # another process's view of the device


def test_old_hits_are_deleted_as_the_key_is_used(settings, clock):
    settings.RATE_LIMIT_PER_MIN = 10
    device = make_device()
    for _ in range(5):
        take(device, "outbound")
    clock.move_to(at(61))
    take(device, "outbound")
    assert hits(device, "outbound") == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_takers_never_share_the_last_token(settings):
    """Threads with their own database connections race for 5 tokens: exactly 5 win. (SQLite's
    in-memory test database cannot hold concurrent writers; run this on PostgreSQL.)"""
    if connection.vendor != "postgresql":
        pytest.skip("needs a database with concurrent connections (DATABASE_URL=postgres://…)")
    settings.RATE_LIMIT_PER_MIN = 5
    device = make_device()
    outcomes: list[str] = []
    start = threading.Barrier(20)

    def taker() -> None:
        try:
            start.wait()
            take(Device.objects.select_related("app").get(pk=device.pk), "outbound")
            outcomes.append("ok")
        except WhatsAppError as error:
            outcomes.append(error.code.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=taker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes.count("ok") == 5
    assert outcomes.count("MESSAGE_RATE_LIMITED") == 15
    assert hits(device, "outbound") == 5


# --- the authentication throttle --------------------------------------------------------------


def auth_refusal(device: Device) -> WhatsAppError:
    error = refused(check_auth, device)
    assert error.code is ErrorCode.PERMISSION_AUTH_THROTTLED
    return error


def test_nothing_recorded_means_no_throttle(clock):
    check_auth(make_device())


def test_consecutive_failures_back_off_60_120_240_480_900_900(clock):
    """Failures 1000 s apart (longer than any cooldown, so the window never fills): the streak, not
    the timing, sets the cooldown, read a second before it ends."""
    device = make_device()
    for failures, cooldown in enumerate((60, 120, 240, 480, 900, 900, 900), start=1):
        start = (failures - 1) * 1000
        clock.move_to(at(start))
        check_auth(device)
        record_auth(device, "failed")
        clock.move_to(at(start + cooldown - 1))
        error = auth_refusal(device)
        assert error.details == {"reason": "cooldown", "failures": failures, "cooldown_s": cooldown,
                                 "retry_after_s": 1}
        assert "wait 1 s" in error.message
        clock.move_to(at(start + cooldown))
        check_auth(device)


def test_failures_as_fast_as_allowed_meet_the_window(clock):
    """Retrying the moment each cooldown ends, the fifth failure comes at 15:00 and the window (five
    attempts in 30 minutes) holds the sixth until the first drops out at 30:00 — when the fifth's
    900 s cooldown ends too."""
    device = make_device()
    now = 0
    for cooldown in (60, 120, 240, 480):
        record_auth(device, "failed")
        now += cooldown
        clock.move_to(at(now))
        check_auth(device)
    record_auth(device, "failed")
    assert now == 900
    clock.move_to(at(1799))
    error = auth_refusal(device)
    assert (error.details["reason"], error.retry_after_s) == ("window", 1)
    clock.move_to(at(1800))
    check_auth(device)


def test_right_after_a_failure_the_refusal_states_the_whole_cooldown(clock):
    device = make_device()
    now = 0.0
    for cooldown in (60, 120, 240, 480):
        record_auth(device, "failed")
        error = auth_refusal(device)
        assert (error.retry_after_s, error.details["reason"]) == (cooldown, "cooldown")
        assert f"{cooldown} s" in error.message
        now += cooldown
        clock.move_to(at(now))


def test_the_cooldown_is_measured_from_the_last_attempt_and_rounded_up(clock):
    device = make_device()
    record_auth(device, "failed")
    clock.move_to(at(0.4))
    assert auth_refusal(device).retry_after_s == 60  # 59.6 s left
    clock.move_to(at(59.5))
    assert auth_refusal(device).retry_after_s == 1
    clock.move_to(at(60))
    check_auth(device)


def test_an_issued_code_ends_the_failure_streak(clock):
    device = make_device()
    record_auth(device, "failed")
    clock.move_to(at(60))
    record_auth(device, "failed")
    clock.move_to(at(180))
    record_auth(device, "issued")
    check_auth(device)  # no cooldown after a success
    record_auth(device, "failed")
    assert auth_refusal(device).retry_after_s == 60  # the streak starts again


def test_reset_ends_the_cooldown_but_not_the_window(clock):
    device = make_device()
    for minute in range(3):
        clock.move_to(at(minute * 600))
        record_auth(device, "failed")
    assert auth_refusal(device).details["cooldown_s"] == 240
    reset_auth_cooldown(device)  # e.g. the device connected
    check_auth(device)
    record_auth(device, "failed")
    assert auth_refusal(device).retry_after_s == 60
    reset_auth_cooldown(device)
    record_auth(device, "issued")
    record_auth(device, "issued")  # 5 attempts within 30 minutes: the reset did not clear them
    error = auth_refusal(device)
    assert error.details["reason"] == "window"


def test_the_window_allows_five_attempts_in_thirty_minutes(clock):
    device = make_device()
    for minute in (0, 5, 10, 15, 20):
        clock.move_to(at(minute * 60))
        check_auth(device)
        record_auth(device, "issued")
    clock.move_to(at(21 * 60 + 30))
    error = auth_refusal(device)
    assert error.retry_after_s == 510  # the attempt at 0 drops out at 30:00
    assert error.details == {"reason": "window", "limit": 5, "window_s": 1800, "retry_after_min": 9,
                             "retry_after_s": 510}
    assert "9 minutes" in error.message
    clock.move_to(at(29 * 60 + 59))
    assert "1 minute." in auth_refusal(device).message
    clock.move_to(at(30 * 60))
    check_auth(device)
    record_auth(device, "issued")
    clock.move_to(at(31 * 60))
    assert auth_refusal(device).retry_after_s == 4 * 60  # now the attempt at 5:00 must drop out


def test_the_window_is_checked_before_the_cooldown(clock):
    device = make_device()
    for second in range(4):
        clock.move_to(at(second))
        record_auth(device, "issued")
    clock.move_to(at(4))
    record_auth(device, "failed")  # both the window (5 attempts) and a 60 s cooldown apply
    error = auth_refusal(device)
    assert error.details["reason"] == "window"
    assert error.retry_after_s == 1796  # the attempt at 0 drops out at 30:00
    assert "30 minutes" in error.message
    clock.move_to(at(1800))  # the window has room again; the cooldown ended long ago
    check_auth(device)


def test_refusals_are_not_attempts(clock):
    device = make_device()
    record_auth(device, "failed")
    for second in range(1, 30):
        clock.move_to(at(second))
        auth_refusal(device)
    clock.move_to(at(60))
    check_auth(device)
    assert ThrottleHit.objects.filter(key=f"auth:{device.pk}").count() == 1


def test_each_device_has_its_own_auth_throttle(clock):
    first, second = make_device(), make_device()
    record_auth(first, "failed")
    auth_refusal(first)
    check_auth(second)


def test_the_throttle_survives_a_restart(clock):
    device = make_device()
    record_auth(device, "failed")
    record_auth(device, "failed")
    assert auth_refusal(Device.objects.get(pk=device.pk)).retry_after_s == 120


def test_a_streak_a_day_old_is_forgotten(clock):
    device = make_device()
    for index in range(5):
        clock.move_to(at(index * 1000))
        record_auth(device, "failed")
    clock.move_to(at(4000 + 2 * 86400))
    check_auth(device)
    record_auth(device, "failed")
    assert auth_refusal(device).retry_after_s == 60


def test_only_attempt_outcomes_are_recorded(clock):
    with pytest.raises(ValueError, match="outcome"):
        record_auth(make_device(), "reset")


# --- retention --------------------------------------------------------------------------------


def test_purge_deletes_what_no_window_counts(settings, clock):
    settings.RATE_LIMIT_PER_MIN = settings.DOWNLOAD_RATE_LIMIT_PER_MIN = 100
    device = make_device()
    take(device, "outbound")
    take(device, "download")
    record_auth(device, "failed")
    clock.move_to(at(30))
    take(device, "outbound")
    clock.move_to(at(61))
    assert purge_old_hits() == 2  # the first outbound and download tokens
    clock.move_to(at(86400 + 1))
    assert purge_old_hits() == 2  # the second token, and the auth row after a day
    assert not ThrottleHit.objects.exists()


def test_purge_takes_an_explicit_time(clock):
    device = make_device()
    take(device, "outbound")
    assert purge_old_hits(at(30)) == 0
    assert purge_old_hits(at(60)) == 1


def test_the_documented_constants_are_the_reference_s():
    assert (throttles.WINDOW_S, throttles.AUTH_WINDOW_S, throttles.AUTH_MAX_ATTEMPTS) == (60, 1800, 5)
    assert throttles.AUTH_COOLDOWNS_S == (60, 120, 240, 480, 900)
