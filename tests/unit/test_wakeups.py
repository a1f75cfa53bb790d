"""Local wake-ups (embedded mode, no Redis): a waiter blocks on its own abstract socket and wakes
as soon as someone notifies it — which is what lets idle runners and simulated networks stop polling."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import transaction

from whatsapp import wakeups

pytestmark = pytest.mark.skipif(not wakeups.LOCAL, reason="local wake-ups need Linux abstract sockets")


@pytest.fixture(autouse=True)
def _no_redis(settings):
    settings.REDIS_URL = ""


def name() -> str:
    return uuid.uuid4().hex


def later(seconds: float, fn, *args) -> None:
    threading.Timer(seconds, fn, args).start()


def test_a_waiter_wakes_as_soon_as_it_is_notified() -> None:
    ident = name()
    waiter = wakeups.waiter("device", ident)
    try:
        later(0.1, wakeups.notify, "device", ident)
        started = time.monotonic()
        assert waiter.wait(10) is True
        assert time.monotonic() - started < 2
    finally:
        waiter.close()


def test_without_a_wake_up_the_wait_times_out() -> None:
    waiter = wakeups.waiter("device", name())
    try:
        started = time.monotonic()
        assert waiter.wait(0.2) is False
        assert time.monotonic() - started >= 0.15
    finally:
        waiter.close()


def test_a_wake_up_sent_before_the_wait_is_kept_and_several_count_as_one() -> None:
    ident = name()
    waiter = wakeups.waiter("device", ident)
    try:
        for _ in range(5):
            wakeups.notify("device", ident)
        assert waiter.wait(1) is True
        assert waiter.wait(0.1) is False
    finally:
        waiter.close()


def test_waiters_of_other_names_are_not_woken() -> None:
    mine, theirs = name(), name()
    waiter = wakeups.waiter("sim", mine)
    try:
        wakeups.notify("sim", theirs)
        wakeups.notify("device", mine)
        assert waiter.wait(0.2) is False
    finally:
        waiter.close()


def test_one_waiter_per_name_and_the_name_is_free_again_once_closed() -> None:
    ident = name()
    first = wakeups.waiter("device", ident)
    assert wakeups.waiter("device", ident) is None  # the caller polls instead
    first.close()
    second = wakeups.waiter("device", ident)
    assert second is not None
    second.close()


def test_notifying_nobody_is_harmless() -> None:
    wakeups.notify("device", name())


@pytest.mark.django_db(transaction=True)
def test_a_wake_up_on_commit_waits_for_the_commit() -> None:
    ident = name()
    waiter = wakeups.waiter("device", ident)
    try:
        with transaction.atomic():
            wakeups.notify_on_commit("device", ident)
            assert waiter.wait(0.1) is False  # the rows are not visible yet: no wake-up
        assert waiter.wait(1) is True
    finally:
        waiter.close()
