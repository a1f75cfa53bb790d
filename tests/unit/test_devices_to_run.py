"""The fleet's reconciliation rule: a device needs a runner when it has work queued, is linking
within a valid QR window, or is connected — never when destroyed."""

from __future__ import annotations

import pytest

from tests.factories import connected_device, make_device, make_linking_device
from whatsapp.errors import ErrorCode
from whatsapp.models import CommandKind, CommandState, ConnectionState, Device, DeviceCommand, DeviceStatus
from whatsapp.services.devices import devices_to_run

pytestmark = pytest.mark.django_db


def runs(device: Device) -> bool:
    return devices_to_run().filter(pk=device.pk).exists()


def disconnected_device() -> Device:
    device = connected_device()
    device.mark_disconnected(None, permanent=False)
    return device


def with_command(device: Device, state: str) -> Device:
    command = DeviceCommand.enqueue(device.pk, CommandKind.LINK)
    DeviceCommand.objects.filter(pk=command.pk).update(state=state)
    return device


def test_a_device_linking_within_its_qr_window_runs() -> None:
    assert runs(make_linking_device(window_s=60))


def test_a_device_whose_qr_window_is_over_does_not_run() -> None:
    assert not runs(make_linking_device(window_s=-1))


def test_a_new_device_without_a_qr_does_not_run() -> None:
    assert not runs(make_device())


def test_a_connected_device_runs() -> None:
    assert runs(connected_device())


def test_a_connected_device_reconnecting_runs() -> None:
    device = connected_device()
    device.set_connection_state(ConnectionState.RECONNECTING, ErrorCode.CONNECTION_LOST)
    assert runs(device)


@pytest.mark.parametrize("state", [CommandState.PENDING, CommandState.RUNNING])
def test_a_device_with_work_queued_runs(state: str) -> None:
    assert runs(with_command(disconnected_device(), state))


@pytest.mark.parametrize("state", [CommandState.DONE, CommandState.FAILED])
def test_finished_commands_are_no_work(state: str) -> None:
    assert not runs(with_command(disconnected_device(), state))


def test_a_disconnected_device_does_not_run() -> None:
    assert not runs(disconnected_device())


def test_an_expired_device_does_not_run() -> None:
    device = make_linking_device()
    device.mark_qr_expired()
    assert not runs(device)


def test_a_destroyed_device_never_runs_even_with_work_queued() -> None:
    device = connected_device()
    with_command(device, CommandState.PENDING)
    device.destroy()
    assert not runs(device)


def test_a_destroyed_linking_device_does_not_run() -> None:
    device = make_linking_device()
    Device.objects.filter(pk=device.pk).update(status=DeviceStatus.DESTROYED)
    assert not runs(device)


def test_each_device_is_listed_once() -> None:
    device = with_command(make_linking_device(), CommandState.PENDING)
    with_command(device, CommandState.RUNNING)
    assert list(devices_to_run().filter(pk=device.pk).values_list("pk", flat=True)) == [device.pk]


# --- AUTO_CONNECT_ON_STARTUP ------------------------------------------------------------------


def closed_connected_device() -> Device:
    """Connected (a stored session) but with no open connection, as after a restart."""
    device = connected_device()
    device.set_connection_state(ConnectionState.CLOSED)
    return device


def test_with_auto_connect_a_closed_connected_device_comes_back(settings) -> None:
    settings.AUTO_CONNECT_ON_STARTUP = True
    assert runs(closed_connected_device())


def test_without_auto_connect_a_closed_connected_device_stays_down(settings) -> None:
    settings.AUTO_CONNECT_ON_STARTUP = False
    assert not runs(closed_connected_device())


def test_without_auto_connect_an_open_device_keeps_running(settings) -> None:
    settings.AUTO_CONNECT_ON_STARTUP = False
    assert runs(connected_device())


def test_without_auto_connect_work_queued_still_runs(settings) -> None:
    settings.AUTO_CONNECT_ON_STARTUP = False
    assert runs(with_command(closed_connected_device(), CommandState.PENDING))
