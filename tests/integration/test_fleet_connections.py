"""Budget connections (DESIGN §2): idle runners, and the simulated networks inside them, hold no
PostgreSQL connection between bursts of work — a hundred idle devices must not take a hundred of
PostgreSQL's connections — and a wake-up still brings an idle runner back at once."""

from __future__ import annotations

import statistics
import time

import pytest
from django.db import connection

from tests.factories import make_app
from tests.integration.test_fleet_runtime import PEER, fleet, gateway_env, refreshed, simulate  # noqa: F401
from tests.support.processes import wait_until
from whatsapp.models import DeliveryStatus, Device, Message
from whatsapp.services.devices import create_device
from whatsapp.services.messages import Outgoing, send_message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def others_connected() -> int:
    """Connections to the test database other than this test's own."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def linked(env: dict[str, str], name: str, phone: str) -> Device:
    device = create_device(make_app(), name)
    simulate(env, "scan", str(device.pk), "--phone", phone)
    wait_until(lambda: refreshed(device).status == "connected" and device.connection_state == "open", 30,
               what=f"{name} connected")
    return device


def test_idle_runners_hold_no_database_connection(gateway_env, fleet):  # noqa: F811
    devices = [linked(gateway_env, f"idle-{i}", f"+1514555020{i}") for i in range(3)]
    # Three runners, each with its simulated network's poller: six connections if they held them.
    # Idle, only the fleet's own (renewing leases every second) may stay.
    wait_until(lambda: others_connected() <= 1, 20, what="idle runners released their connections")
    samples = []
    for _ in range(12):
        samples.append(others_connected())
        time.sleep(0.25)
    assert statistics.median(samples) <= 1, samples

    started = time.monotonic()
    message = send_message(devices[0], Outgoing(to=PEER, text="still there?"), wait_s=10)
    assert message.status == DeliveryStatus.SENT
    assert time.monotonic() - started < 3  # woken, not found by a safety poll
    assert Message.objects.get(pk=message.pk).status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED,
                                                          DeliveryStatus.READ)
