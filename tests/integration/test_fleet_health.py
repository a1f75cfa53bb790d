"""Connection health and the first-connect extras, through a real fleet with the simulator engine: the
heartbeat that detects a silent disconnect, the welcome group of a newly linked session and the
presence the account shows. Each test starts its own fleet with the settings it needs (a copy of the
runtime tests' environment plus its overrides); nothing is mocked."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.integration import test_fleet_runtime as runtime
from tests.integration.test_fleet_runtime import connected_device, event_types, refreshed, simulate
from tests.support.processes import ProcessGroup, wait_until
from whatsapp.errors import ErrorCode
from whatsapp.models import Chat, Device, EventType

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# The runtime tests' environment (PostgreSQL, the simulator engine, fast reconnects), shared by name.
gateway_env = runtime.gateway_env


@pytest.fixture
def fleet_with(gateway_env, tmp_path, transactional_db) -> Iterator[Callable[..., dict[str, str]]]:
    """Start a fleet whose environment is ``gateway_env`` plus overrides; returns that environment."""
    started: list[ProcessGroup] = []

    def start(**overrides: str) -> dict[str, str]:
        env = {**gateway_env, **overrides}
        started.append(runtime.start_fleet(env, tmp_path, f"fleet-{len(started)}"))
        return env

    yield start
    for group in started:
        group.stop()


def sent(env: dict[str, str], device: Device, kind: str) -> list[dict]:
    return simulate(env, "sent", str(device.pk), "--kind", kind)


def test_a_silent_disconnect_is_detected_by_the_heartbeat_and_reconnected(fleet_with):
    env = fleet_with(HEALTH_CHECK_INTERVAL_SEC="5")
    device = connected_device(env)
    connects = event_types(device).count(EventType.DEVICE_CONNECTED)

    simulate(env, "fault", str(device.pk), "silent")  # the socket stays "up" but nothing answers any more
    silenced_at = time.monotonic()
    # The next probe (at most 5 s away) waits PROBE_TIMEOUT_S (8 s) for the ping, then reports the loss;
    # the row shows it until the reconnect 0.5 s later, so it is polled closely.
    lost = wait_until(lambda: refreshed(device).last_error_code == ErrorCode.HEALTH_CHECK_FAILED.code
                      and (device.status, device.connection_state), 16, interval=0.02,
                      what="the heartbeat reports HEALTH_CHECK_FAILED")
    detected_s = time.monotonic() - silenced_at
    assert lost == ("connected", "reconnecting")  # transient: the device is not given up
    assert detected_s > 4  # not before a heartbeat could have timed out

    wait_until(lambda: event_types(device).count(EventType.DEVICE_CONNECTED) > connects, 10,
               what="reconnected after the failed heartbeat")
    assert (refreshed(device).status, device.connection_state, device.last_error_code) == ("connected", "open", "")
    assert not [f for f in simulate(env, "status", str(device.pk))["faults"] if f["kind"] == "silent"]
    assert EventType.DEVICE_LOGGED_OUT not in event_types(device)
    assert time.monotonic() - silenced_at < 20


def test_the_welcome_group_is_created_once_per_new_link(fleet_with):
    env = fleet_with(WELCOME_GROUP_NAME="Gateway")
    device = connected_device(env)

    welcome = wait_until(lambda: Chat.objects.filter(device=device, kind="group", name="Gateway").first(), 15,
                         what="welcome group stored")
    assert welcome.jid.endswith("@g.us")
    [created] = sent(env, device, "group")
    assert (created["chat_jid"], created["payload"]["op"], created["payload"]["name"]) == (
        welcome.jid, "create", "Gateway")
    groups = {g["jid"]: g for g in simulate(env, "world")["groups"]}
    assert groups[welcome.jid]["name"] == "Gateway"
    assert [p["jid"] for p in groups[welcome.jid]["participants"]] == [refreshed(device).phone_jid]  # just us

    connects = event_types(device).count(EventType.DEVICE_CONNECTED)
    simulate(env, "fault", str(device.pk), "drop")
    wait_until(lambda: event_types(device).count(EventType.DEVICE_CONNECTED) > connects, 15, what="reconnected")
    time.sleep(1.5)  # a second welcome group would follow the reconnect at once; prove none does
    assert [r["payload"]["op"] for r in sent(env, device, "group")] == ["create"]
    assert Chat.objects.filter(device=device, kind="group", name="Gateway").count() == 1


def test_presence_mode_available_is_announced_on_connect(fleet_with):
    env = fleet_with(PRESENCE_MODE="available")
    device = connected_device(env)
    presence = wait_until(lambda: sent(env, device, "presence"), 10, what="presence sent")
    assert [r["payload"]["available"] for r in presence] == [True]
    assert refreshed(device).status == "connected"
