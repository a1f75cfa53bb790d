"""Device use cases: link by QR, pair by phone, disconnect and destroy — refusals decided from the
stored device before any command is queued, answers waited for through the command queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import RunnerSide, connected_device, make_device, make_linking_device
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import CommandKind, CommandState, Device, DeviceCommand, DeviceStatus
from whatsapp.services.devices import destroy_device, disconnect_device, link_device, pair_device


def refused(call, *args, **kwargs) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as excinfo:
        call(*args, **kwargs)
    assert not DeviceCommand.objects.exists(), "nothing is queued for a refused request"
    return excinfo.value


def expired_device() -> Device:
    device = make_linking_device()
    device.mark_qr_expired()
    return device


# --- pair_device ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("phone", ["", "call me", "0044 20 7946 0958", "020 7946 0958", "+12345"])
def test_pairing_with_a_bad_phone_is_a_validation_error(phone: str) -> None:
    error = refused(pair_device, make_linking_device(), phone, wait_s=1)
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.details["field"] == "phone"


@pytest.mark.django_db
def test_the_phone_is_checked_before_the_device() -> None:
    device = connected_device()
    device.destroy()
    assert refused(pair_device, device, "nope", wait_s=1).code is ErrorCode.VALIDATION_ERROR


@pytest.mark.django_db
def test_a_connected_device_cannot_pair_again() -> None:
    error = refused(pair_device, connected_device(), "+1 555 123 4567", wait_s=1)
    assert error.code is ErrorCode.QR_RESET_NOT_ALLOWED


@pytest.mark.django_db
def test_a_destroyed_device_cannot_pair() -> None:
    device = make_linking_device()
    device.destroy()
    assert refused(pair_device, device, "+1 555 123 4567", wait_s=1).code is ErrorCode.DEVICE_DESTROYED


@pytest.mark.django_db
def test_a_stale_instance_does_not_decide() -> None:
    device = make_linking_device()
    Device.objects.filter(pk=device.pk).update(status=DeviceStatus.CONNECTED)
    assert refused(pair_device, device, "+1 555 123 4567", wait_s=1).code is ErrorCode.QR_RESET_NOT_ALLOWED


@pytest.mark.django_db(transaction=True)
def test_pairing_returns_the_code_the_runner_got() -> None:
    device = make_linking_device()
    with RunnerSide(device.pk, lambda c: c.succeed({"code": "ABCD-EFGH"})) as runner:
        assert pair_device(device, "+1 (555) 123-4567", wait_s=5) == "ABCD-EFGH"
    [command] = runner.handled
    assert (command.kind, command.payload) == (CommandKind.PAIR_PHONE, {"phone": "15551234567"})
    assert command.deadline is not None


@pytest.mark.django_db(transaction=True)
def test_a_pairing_failure_is_raised() -> None:
    device = make_linking_device()
    with RunnerSide(device.pk, lambda c: c.fail(ErrorCode.AUTH_PAIRING_FAILED)), \
            pytest.raises(WhatsAppError) as excinfo:
        pair_device(device, "+1 555 123 4567", wait_s=5)
    assert excinfo.value.code is ErrorCode.AUTH_PAIRING_FAILED


# --- link_device ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_new_qr_while_one_is_valid() -> None:
    error = refused(link_device, make_linking_device(), wait_s=1)
    assert error.code is ErrorCode.QR_RESET_NOT_ALLOWED
    assert error.details["status"] == DeviceStatus.QR_GENERATED


@pytest.mark.django_db
def test_no_new_qr_for_a_connected_device() -> None:
    assert refused(link_device, connected_device(), wait_s=1).code is ErrorCode.QR_RESET_NOT_ALLOWED


@pytest.mark.django_db
def test_no_new_qr_for_a_destroyed_device() -> None:
    device = expired_device()
    device.destroy()
    assert refused(link_device, device, wait_s=1).code is ErrorCode.DEVICE_DESTROYED


@pytest.mark.django_db(transaction=True)
def test_linking_returns_the_device_with_its_first_qr() -> None:
    device = expired_device()
    window_ends = timezone.now() + timedelta(seconds=160)

    def show_qr(command: DeviceCommand) -> None:
        Device.objects.get(pk=command.device_id).record_qr("QR-FIRST", window_ends)
        command.succeed()

    with RunnerSide(device.pk, show_qr) as runner:
        linked = link_device(device, wait_s=5)
    assert (linked.status, linked.qr_code, linked.qr_expires_at) == (DeviceStatus.QR_GENERATED, "QR-FIRST",
                                                                     window_ends)
    assert runner.handled[0].kind == CommandKind.LINK


@pytest.mark.django_db(transaction=True)
def test_a_device_whose_qr_window_is_over_may_link_again() -> None:
    device = make_linking_device(window_s=-1)

    def show_qr(command: DeviceCommand) -> None:
        Device.objects.get(pk=command.device_id).record_qr("QR-NEXT", timezone.now() + timedelta(seconds=160))
        command.succeed()

    with RunnerSide(device.pk, show_qr):
        assert link_device(device, wait_s=5).qr_code == "QR-NEXT"


@pytest.mark.django_db(transaction=True)
def test_linking_without_a_runner_times_out_and_is_never_run_late() -> None:
    device = expired_device()
    with pytest.raises(WhatsAppError) as excinfo:
        link_device(device, wait_s=0.05)
    assert excinfo.value.code is ErrorCode.CONNECTION_TIMEOUT
    assert DeviceCommand.claim(device.pk) == []
    assert DeviceCommand.objects.get(device=device).state == CommandState.FAILED


# --- disconnect_device ------------------------------------------------------------------------


@pytest.mark.django_db
def test_disconnecting_a_disconnected_device_queues_nothing() -> None:
    device = connected_device()
    device.mark_disconnected(None, permanent=False)
    assert disconnect_device(device, wait_s=1).status == DeviceStatus.DISCONNECTED
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
def test_disconnecting_an_expired_device_queues_nothing() -> None:
    device = expired_device()
    assert disconnect_device(device, wait_s=1).status == DeviceStatus.EXPIRED
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
def test_a_destroyed_device_cannot_be_disconnected() -> None:
    device = connected_device()
    device.destroy()
    assert refused(disconnect_device, device, wait_s=1).code is ErrorCode.DEVICE_DESTROYED


@pytest.mark.django_db(transaction=True)
def test_disconnecting_a_connected_device_logs_it_out() -> None:
    device = connected_device()

    def log_out(command: DeviceCommand) -> None:
        Device.objects.get(pk=command.device_id).mark_disconnected(None, permanent=False, reason="logout",
                                                                  session_cleared=True)
        command.succeed({"status": "disconnected"})

    with RunnerSide(device.pk, log_out) as runner:
        assert disconnect_device(device, wait_s=5).status == DeviceStatus.DISCONNECTED
    assert runner.handled[0].kind == CommandKind.LOGOUT


# --- destroy_device ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_destroy_is_terminal() -> None:
    device = destroy_device(connected_device())
    assert device.status == DeviceStatus.DESTROYED
    with pytest.raises(WhatsAppError) as excinfo:
        destroy_device(device)
    assert excinfo.value.code is ErrorCode.DEVICE_DESTROYED


@pytest.mark.django_db
def test_destroy_decides_from_the_stored_device() -> None:
    device = make_device()
    Device.objects.get(pk=device.pk).destroy()
    with pytest.raises(WhatsAppError) as excinfo:
        destroy_device(device)
    assert excinfo.value.code is ErrorCode.DEVICE_DESTROYED
