"""Device lifecycle use cases: create, link by QR, pair by phone, disconnect, destroy."""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import (
    App,
    CommandKind,
    CommandState,
    ConnectionState,
    Device,
    DeviceCommand,
    DeviceStatus,
)
from whatsapp.phones import normalize_phone
from whatsapp.services.commands import await_command

# How long linking may take to produce its first QR or pairing code (a runner must start first).
LINK_TIMEOUT_S = 30.0
LOGOUT_TIMEOUT_S = 15.0
RECONNECT_TIMEOUT_S = 10.0


def create_device(app: App, name: str, *, wait_s: float | None = None) -> Device:
    """A new device with its first QR code (``status: qr_generated``)."""
    device = Device.create(app, name)
    return link_device(device, wait_s=wait_s)


def link_device(device: Device, *, wait_s: float | None = None) -> Device:
    """Start QR linking and return the device once its first QR is recorded.

    Refused with ``QR_RESET_NOT_ALLOWED`` while a QR is valid or a session is active, and with
    ``DEVICE_DESTROYED`` for a destroyed device.
    """
    wait_s = LINK_TIMEOUT_S if wait_s is None else wait_s
    device.refresh_from_db()
    device.ensure_qr_reset_allowed()
    command = DeviceCommand.enqueue(device.pk, CommandKind.LINK, timeout_s=wait_s)
    await_command(command, wait_s + 1)
    device.refresh_from_db()
    return device


def pair_device(device: Device, phone: str, *, wait_s: float | None = None) -> str:
    """The 8-character pairing code to type on the phone (WhatsApp → Linked devices → Link with
    phone number). The QR stays valid as a fallback."""
    wait_s = LINK_TIMEOUT_S if wait_s is None else wait_s
    digits = normalize_phone(phone)
    device.refresh_from_db()
    device.ensure_alive()
    if device.status == DeviceStatus.CONNECTED:
        raise WhatsAppError(ErrorCode.QR_RESET_NOT_ALLOWED, "The device is already linked; disconnect it first.",
                            details={"status": device.status})
    command = DeviceCommand.enqueue(device.pk, CommandKind.PAIR_PHONE, {"phone": digits}, timeout_s=wait_s)
    return await_command(command, wait_s + 1)["code"]


def disconnect_device(device: Device, *, wait_s: float = LOGOUT_TIMEOUT_S) -> Device:
    """Log the device out of WhatsApp and forget the session; history and settings stay."""
    device.refresh_from_db()
    device.ensure_alive()
    if device.status in (DeviceStatus.CONNECTED, DeviceStatus.QR_GENERATED):
        command = DeviceCommand.enqueue(device.pk, CommandKind.LOGOUT, timeout_s=wait_s)
        await_command(command, wait_s + 1)
    device.refresh_from_db()
    return device


def reconnect_device(device: Device, *, wait_s: float = RECONNECT_TIMEOUT_S) -> Device:
    """Reconnect a stored session and wait until WhatsApp confirms it. ``AUTH_SESSION_EXPIRED``
    when there is no stored session, or it did not come back within ``wait_s`` (expired or revoked)."""
    device.refresh_from_db()
    device.ensure_alive()
    if device.status == DeviceStatus.DISCONNECTED:
        device.request_reconnect()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        device.refresh_from_db()
        if device.status == DeviceStatus.CONNECTED and device.connection_state == ConnectionState.OPEN:
            return device
        if device.status != DeviceStatus.CONNECTED:
            break
        time.sleep(0.2)
    raise WhatsAppError(ErrorCode.AUTH_SESSION_EXPIRED,
                        "The stored session did not reconnect: it may have expired or been revoked. Call "
                        "authenticate again with a phone number to re-link.",
                        details={"status": device.status, "connection_state": device.connection_state,
                                 "last_error_code": device.last_error_code or None})


def destroy_device(device: Device) -> Device:
    """Terminal. The runner holding the device logs out of WhatsApp and stops when it sees this."""
    device.refresh_from_db()
    device.destroy()
    return device


def devices_to_run() -> QuerySet[Device]:
    """The devices a runner should hold now (the fleet's reconciliation rule): those with work
    queued, those linking (a QR window open), and connected ones — which is how every connected
    device comes back after a restart of any process."""
    busy = DeviceCommand.objects.filter(state__in=(CommandState.PENDING, CommandState.RUNNING)).values("device_id")
    linking = Q(status=DeviceStatus.QR_GENERATED, qr_expires_at__gt=timezone.now())
    connected = Q(status=DeviceStatus.CONNECTED)
    if not settings.AUTO_CONNECT_ON_STARTUP:
        connected &= ~Q(connection_state=ConnectionState.CLOSED)
    return Device.objects.exclude(status=DeviceStatus.DESTROYED).filter(Q(pk__in=busy) | linking | connected)
