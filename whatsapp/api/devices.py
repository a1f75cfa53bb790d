"""Device endpoints (wa-server's): create with the first QR, list, read, regenerate the QR, pair by
phone number, disconnect, destroy."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from whatsapp import qr
from whatsapp.api.lookups import app_of, device_of
from whatsapp.api.responses import responses
from whatsapp.api.schemas import Body, Data
from whatsapp.errors import ErrorCode as E
from whatsapp.errors import WhatsAppError
from whatsapp.models import Device, DeviceStatus
from whatsapp.services import devices as device_services

router = Router(tags=["devices"])

# What linking can fail with once the runner tries: WhatsApp's refusals and no answer in time.
LINK_ERRORS = (E.NOT_FOUND, E.DEVICE_DESTROYED, E.QR_RESET_NOT_ALLOWED, E.CLIENT_OUTDATED, E.TOO_MANY_DEVICES,
               E.CONNECTION_TIMEOUT, E.PROVIDER_RATE_LIMITED, E.CONNECTION_LOST, E.PROVIDER_ERROR)


class DeviceOut(Schema):
    device_id: uuid.UUID
    device_name: str
    status: str = Field(description="qr_generated, connected, disconnected, expired or destroyed.")
    connection_state: str = Field(description="connecting, open, reconnecting or closed.")
    phone_jid: str | None
    lid: str | None
    push_name: str | None
    linked_at: datetime | None
    last_error_code: str | None = Field(description="The shared enum's lower code of the last failure.")
    qr_code: str | None = Field(description="The QR string to show now (rotates while linking).")
    qr_image: str | None = Field(description="The same QR as a `data:image/png;base64,…` URI.")
    qr_expires_at: datetime | None = Field(description="End of the whole QR window.")
    expires_at: datetime | None = Field(description="Alias of `qr_expires_at` (wa-server wording).")
    created_at: datetime
    updated_at: datetime
    destroyed_at: datetime | None


class DeviceList(Schema):
    devices: list[DeviceOut]
    count: int


class CreateDevice(Body):
    device_name: str = Field(min_length=1, max_length=200, description="Unique among the app's live devices.")


class PairCodeRequest(Body):
    phone: str = Field(min_length=1, max_length=40, description="The account's number in international form.")


class PairCode(Schema):
    pairing_code: str = Field(description="Type it on the phone: Linked devices → Link with phone number.")
    device: DeviceOut


class ListFilters(Schema):
    include_destroyed: bool = False


def device_out(device: Device) -> dict:
    showing_qr = device.qr_is_valid and bool(device.qr_code)
    last_error = None
    if device.last_error_code:
        try:
            last_error = E.lookup(device.last_error_code).api_code
        except KeyError:
            last_error = device.last_error_code.lower()
    return {
        "device_id": device.pk, "device_name": device.name, "status": device.status,
        "connection_state": device.connection_state, "phone_jid": device.phone_jid or None,
        "lid": device.lid or None, "push_name": device.push_name or None, "linked_at": device.linked_at,
        "last_error_code": last_error,
        "qr_code": device.qr_code if showing_qr else None,
        "qr_image": qr.data_uri(device.qr_code) if showing_qr else None,
        "qr_expires_at": device.qr_expires_at if device.status == DeviceStatus.QR_GENERATED else None,
        "expires_at": device.qr_expires_at if device.status == DeviceStatus.QR_GENERATED else None,
        "created_at": device.created_at, "updated_at": device.updated_at, "destroyed_at": device.destroyed_at,
    }


def _create(request: HttpRequest, body: CreateDevice) -> Status:
    device = Device.create(app_of(request), body.device_name)
    request.api_device = device
    try:
        device = device_services.link_device(device)
    except WhatsAppError as error:
        error.details.setdefault("device_id", str(device.pk))  # the device exists: poll it or retry /qr
        raise
    return Status(201, {"data": device_out(device)})


@router.post("/devices", response=responses({201: Data[DeviceOut]}, E.CONFLICT, *LINK_ERRORS),
             summary="Create a device and its first QR code")
def create_device(request: HttpRequest, body: CreateDevice) -> Status:
    return _create(request, body)


@router.post("/devices/deploy", response=responses({201: Data[DeviceOut]}, E.CONFLICT, *LINK_ERRORS),
             summary="Create a device (legacy alias of POST /devices)")
def deploy_device(request: HttpRequest, body: CreateDevice) -> Status:
    return _create(request, body)


@router.get("/devices", response=responses({200: Data[DeviceList]}), summary="List the app's devices")
def list_devices(request: HttpRequest, filters: Query[ListFilters]) -> dict:
    devices = Device.objects.filter(app=app_of(request)).order_by("created_at")
    if not filters.include_destroyed:
        devices = devices.exclude(status=DeviceStatus.DESTROYED)
    items = [device_out(device) for device in devices]
    return {"data": {"devices": items, "count": len(items)}}


@router.get("/devices/{device_id}", response=responses({200: Data[DeviceOut]}, E.NOT_FOUND),
            summary="One device (status, current QR, phone JID)")
def get_device(request: HttpRequest, device_id: uuid.UUID) -> dict:
    return {"data": device_out(device_of(request, device_id, alive=False))}


@router.post("/devices/{device_id}/qr", response=responses({200: Data[DeviceOut]}, *LINK_ERRORS),
             summary="Generate a new QR code (only after disconnect or expiry)")
def regenerate_qr(request: HttpRequest, device_id: uuid.UUID) -> dict:
    device = device_services.link_device(device_of(request, device_id))
    return {"data": device_out(device)}


@router.post("/devices/{device_id}/pair-code", response=responses({200: Data[PairCode]}, *LINK_ERRORS),
             summary="Link by phone number: returns the 8-character pairing code")
def pair_code(request: HttpRequest, device_id: uuid.UUID, body: PairCodeRequest) -> dict:
    device = device_of(request, device_id)
    code = device_services.pair_device(device, body.phone)
    device.refresh_from_db()
    return {"data": {"pairing_code": code, "device": device_out(device)}}


@router.post("/devices/{device_id}/disconnect",
             response=responses({200: Data[DeviceOut]}, E.NOT_FOUND, E.DEVICE_DESTROYED, E.CONNECTION_TIMEOUT),
             summary="Log out of WhatsApp, keeping the device and its history")
def disconnect(request: HttpRequest, device_id: uuid.UUID) -> dict:
    device = device_services.disconnect_device(device_of(request, device_id))
    return {"data": device_out(device)}


@router.delete("/devices/{device_id}", response=responses({200: Data[DeviceOut]}, E.NOT_FOUND, E.DEVICE_DESTROYED),
               summary="Destroy the device (terminal; its name becomes free)")
def destroy(request: HttpRequest, device_id: uuid.UUID) -> dict:
    device = device_services.destroy_device(device_of(request, device_id))
    return {"data": device_out(device)}
