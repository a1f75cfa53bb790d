"""The engine, runners and fleet as real processes on PostgreSQL, with the simulator playing WhatsApp.

The test process calls the services (as the REST API and MCP server will); a ``run_fleet``
subprocess supervises one ``run_device`` subprocess per device; ``manage.py simulate`` subprocesses
play the phone. Nothing is mocked: every hop crosses a process boundary through the database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.factories import make_app
from tests.support.processes import PROJECT_ROOT, PYTHON, ProcessGroup, clean_env, wait_until
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import DeliveryStatus, Device, DeviceEvent, DeviceLease, Direction, Message
from whatsapp.services.devices import create_device, pair_device
from whatsapp.services.messages import Outgoing, send_message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PHONE = "+15145550100"
PEER = "+15145550101"  # Alice, in the simulator's fixture world (with a LID twin)


@pytest.fixture
def gateway_env(tmp_path, settings):
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = clean_env(
        DATABASE_URL=database_url, REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        WHATSAPP_ENGINE="simulator", SIMULATOR_TIME_SCALE="0.05", RECONNECT_DELAYS_SEC="0.5,0.5,0.5,0.5,0.5",
        FLEET_LEASE_TTL_SEC="3", HEALTH_CHECK_INTERVAL_SEC="5", DATA_DIR=str(tmp_path / "data"),
        MEDIA_ROOT=str(tmp_path / "data"), SECRET_KEY="integration-" + "k" * 40, LOG_LEVEL="INFO",
    )
    settings.MEDIA_ROOT = tmp_path / "data"
    return env


def start_fleet(env: dict[str, str], tmp_path: Path, name: str) -> ProcessGroup:
    return ProcessGroup([PYTHON, "manage.py", "run_fleet", "--name", name], env, tmp_path / f"{name}.log")


@pytest.fixture
def fleet(gateway_env, tmp_path, transactional_db):
    group = start_fleet(gateway_env, tmp_path, "fleet-a")
    yield group
    group.stop()


def simulate(env: dict[str, str], *args: str, check: bool = True) -> object:
    done = subprocess.run([PYTHON, "manage.py", "simulate", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    if check:
        assert done.returncode == 0, f"simulate {args} failed: {done.stdout}\n{done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else None


def runner_pids(device_id: object) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run_device" in cmdline and str(device_id).encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def refreshed(device: Device) -> Device:
    device.refresh_from_db()
    return device


def connected_device(env: dict[str, str], name: str = "main") -> Device:
    device = create_device(make_app(), name)
    simulate(env, "scan", str(device.pk), "--phone", PHONE)
    wait_until(lambda: refreshed(device).status == "connected" and device.connection_state == "open", 20,
               what="device connected")
    return device


def event_types(device: Device) -> list[str]:
    return list(DeviceEvent.objects.filter(device=device).order_by("sequence").values_list("type", flat=True))


def test_link_by_qr_scan_then_send_and_receive(gateway_env, fleet):
    device = create_device(make_app(), "support")
    assert device.status == "qr_generated"
    assert device.qr_code.startswith("https://wa.me/settings/linked_devices#")
    assert device.qr_expires_at is not None

    simulate(gateway_env, "scan", device.name, "--phone", PHONE)
    wait_until(lambda: refreshed(device).status == "connected", 20, what="connected after scan")
    assert device.phone_jid == "15145550100@s.whatsapp.net"
    assert device.linked_at is not None
    events = event_types(device)
    assert events.index("device_qr_generated") < events.index("device_connected")

    message = send_message(device, Outgoing(to=PEER, text="hello from the gateway"))
    assert message.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ)  # receipts are quick
    assert message.sent_at is not None
    sent = [r for r in simulate(gateway_env, "sent", str(device.pk)) if r.get("kind") == "send"]
    assert [r["wa_id"] for r in sent] == [message.wa_id]

    simulate(gateway_env, "message", str(device.pk), "--from", PEER, "--text", "hi back")
    inbound = wait_until(lambda: Message.objects.filter(device=device, direction=Direction.INBOUND).first(), 15,
                         what="inbound message stored")
    assert inbound.body == "hi back"
    assert inbound.chat.jid == "15145550101@s.whatsapp.net"
    assert inbound.chat.unread_count == 1
    wait_until(lambda: Message.objects.get(pk=message.pk).status in ("delivered", "read"), 15, what="receipt")


def test_link_by_pairing_code(gateway_env, fleet):
    device = create_device(make_app(), "paired")
    code = pair_device(device, PHONE)
    assert len(code.replace("-", "")) == 8
    simulate(gateway_env, "enter-code", str(device.pk), code)
    wait_until(lambda: refreshed(device).status == "connected", 20, what="connected after pairing code")
    assert device.phone_jid == "15145550100@s.whatsapp.net"


def test_runner_killed_mid_send_sends_each_message_exactly_once_and_comes_back(gateway_env, fleet):
    device = connected_device(gateway_env)
    messages = [send_message(device, Outgoing(to=PEER, text=f"burst {i}"), wait_s=0) for i in range(40)]
    wait_until(lambda: Message.objects.filter(device=device, status=DeliveryStatus.SENT).exists(), 15,
               interval=0.01, what="first send")
    [pid] = runner_pids(device.pk)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    wait_until(lambda: runner_pids(device.pk) and runner_pids(device.pk) != [pid], 20, what="runner restarted")
    wait_until(lambda: refreshed(device).status == "connected" and device.connection_state == "open", 20,
               what="reconnected")
    recovery_s = time.monotonic() - killed_at
    wait_until(lambda: not Message.objects.filter(pk__in=[m.pk for m in messages], status="queued").exists(), 30,
               what="every message settled")
    statuses = set(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("status", flat=True))
    assert statuses <= {"sent", "delivered", "read"}, statuses
    records = [r for r in simulate(gateway_env, "sent", str(device.pk)) if r.get("kind") == "send"]
    ids = [r["wa_id"] for r in records]
    assert sorted(ids) == sorted(m.wa_id for m in messages)  # each exactly once
    assert recovery_s < 10


def test_permanent_logout_stops_reconnecting(gateway_env, fleet):
    device = connected_device(gateway_env)
    simulate(gateway_env, "fault", str(device.pk), "logout", "--reason", "revoked")
    wait_until(lambda: refreshed(device).status == "disconnected", 15, what="disconnected")
    assert device.last_error_code == ErrorCode.LOGGED_OUT.code
    assert "device_logged_out" in event_types(device)
    wait_until(lambda: not runner_pids(device.pk), 15, what="runner exits")
    time.sleep(3)  # the fleet must not start it again
    assert not runner_pids(device.pk)
    with pytest.raises(WhatsAppError) as excinfo:
        send_message(device, Outgoing(to=PEER, text="anyone?"))
    assert excinfo.value.code is ErrorCode.MESSAGE_NOT_CONNECTED


def test_transient_drop_reconnects(gateway_env, fleet):
    device = connected_device(gateway_env)
    before = event_types(device).count("device_connected")
    simulate(gateway_env, "fault", str(device.pk), "drop")
    wait_until(lambda: event_types(device).count("device_connected") > before, 15, what="reconnected")
    assert refreshed(device).status == "connected"


def test_drops_beyond_the_schedule_leave_the_device_disconnected(gateway_env, fleet):
    device = connected_device(gateway_env)
    simulate(gateway_env, "fault", str(device.pk), "drop", "--count", "10")
    wait_until(lambda: refreshed(device).status == "disconnected", 30, what="gave up after the schedule")
    assert device.last_error_code in (ErrorCode.CONNECTION_LOST.code, ErrorCode.CONNECTION_TIMEOUT.code)
    assert "device_logged_out" not in event_types(device)


def test_a_second_fleet_takes_over_when_the_first_dies(gateway_env, fleet, tmp_path):
    device = connected_device(gateway_env)
    assert DeviceLease.objects.get(device=device).holder == "fleet-a"
    other = start_fleet(gateway_env, tmp_path, "fleet-b")
    try:
        fleet.stop(signal.SIGKILL)
        wait_until(lambda: DeviceLease.objects.filter(device=device, holder="fleet-b").exists(), 20,
                   what="fleet-b holds the device")
        wait_until(lambda: refreshed(device).status == "connected" and device.connection_state == "open"
                   and runner_pids(device.pk), 20, what="connected under fleet-b")
    finally:
        other.stop()
