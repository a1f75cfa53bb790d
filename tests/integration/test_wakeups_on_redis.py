"""Wake-ups over a real Redis: a waiter may block longer than redis-py's default 5 s read timeout
(the webhook dispatcher waits up to 10 s) without the wait failing into polling."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tests.support.processes import private_redis
from whatsapp import wakeups

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_settings(tmp_path, settings):
    with private_redis(tmp_path) as (url, _):
        settings.REDIS_URL = url
        yield url


def test_a_long_wait_blocks_for_its_whole_timeout_without_errors(redis_settings, caplog) -> None:
    waiter = wakeups.waiter("test", "long")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="whatsapp.wakeups"):
        assert waiter.wait(7) is False
    assert time.monotonic() - started >= 6.5
    assert not caplog.records


def test_a_notify_ends_a_long_wait_at_once(redis_settings) -> None:
    waiter = wakeups.waiter("test", "woken")
    threading.Timer(0.5, lambda: wakeups.notify("test", "woken")).start()
    started = time.monotonic()
    assert waiter.wait(8) is True
    assert time.monotonic() - started < 3
