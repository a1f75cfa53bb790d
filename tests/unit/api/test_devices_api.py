"""Device endpoints: create with the first QR, list, read, regenerate, pair, disconnect, destroy —
with every documented error code. The runner's half of each command is played by ``RunnerSide``."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import RunnerSide, connected_device, make_device, make_linking_device
from tests.unit.api.conftest import error_of
from whatsapp.errors import ErrorCode
from whatsapp.models import CommandKind, Device, DeviceCommand, DeviceStatus

QR = "2@sim-qr-code,abc,def,ghi"


def shows_qr(command: DeviceCommand) -> None:
    """What a runner does with ``link``: the engine's first QR is recorded, then the command answers."""
    assert command.kind == CommandKind.LINK
    Device.objects.get(pk=command.device_id).record_qr(QR, timezone.now() + timedelta(seconds=160))
    command.succeed({})


def _device_id_of_next(app) -> uuid.UUID | None:
    device = Device.objects.filter(app=app).order_by("-created_at").first()
    return device.pk if device else None


class CreatingRunner(RunnerSide):
    """A runner side for a device that does not exist yet: it waits for the first one of the app."""

    def __init__(self, app) -> None:
        self.app = app
        super().__init__(None, shows_qr)

    def _work(self) -> None:  # the device id is known only once the request created it
        import time

        from django.db import OperationalError, connection

        give_up = time.monotonic() + 5
        while self.device_id is None and time.monotonic() < give_up:
            # the in-memory test database locks a table while the request writes it
            with contextlib.suppress(OperationalError):
                self.device_id = _device_id_of_next(self.app)
            time.sleep(0.01)
        connection.close()
        super()._work()


# --- create --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/devices", "/devices/deploy"])
def test_create_returns_the_first_qr(api, app, path: str) -> None:
    with CreatingRunner(app):
        response = api.post(path, {"device_name": "Customer Service Main"})
    assert response.status_code == 201, response.content
    device = response.json()["data"]
    assert device["status"] == "qr_generated"
    assert device["device_name"] == "Customer Service Main"
    assert device["qr_code"] == QR
    assert device["qr_image"].startswith("data:image/png;base64,")
    assert device["qr_expires_at"] == device["expires_at"]
    assert device["qr_expires_at"].endswith("Z")
    assert Device.objects.get(pk=device["device_id"]).app == app


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"device_name": ""}, {"device_name": 5}, {"device_name": "x" * 201},
                                  {"device_name": "ok", "extra": 1}])
def test_create_refuses_a_bad_body(api, body: dict) -> None:
    response = api.post("/devices", body)
    assert response.status_code == 400
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] in ("device_name", "extra")
    assert not Device.objects.exists()


@pytest.mark.django_db
def test_create_refuses_a_name_in_use(api, app) -> None:
    make_device(app, "Sales")
    response = api.post("/devices", {"device_name": "Sales"})
    assert response.status_code == 409
    assert error_of(response) == "conflict"


@pytest.mark.django_db(transaction=True)
def test_create_without_a_runner_times_out_naming_the_device(api, app, monkeypatch) -> None:
    monkeypatch.setattr("whatsapp.services.devices.LINK_TIMEOUT_S", 0.3)
    response = api.post("/devices", {"device_name": "Nobody home"})
    assert response.status_code == 504
    assert error_of(response) == "upstream_timeout"
    assert response.json()["error"]["details"]["device_id"] == str(Device.objects.get().pk)


# --- list and read -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_the_apps_live_devices(api, app) -> None:
    live, gone = make_device(app, "live"), make_device(app, "gone")
    gone.destroy()
    make_device(name="another app's")
    body = api.get("/devices").json()["data"]
    assert body["count"] == 1
    assert [d["device_id"] for d in body["devices"]] == [str(live.pk)]
    everything = api.get("/devices", include_destroyed="true").json()["data"]
    assert {d["device_name"] for d in everything["devices"]} == {"live", "gone"}


@pytest.mark.django_db
def test_read_one_device(api, app) -> None:
    device = connected_device(app, phone_jid="15550001111@s.whatsapp.net")
    body = api.get(f"/devices/{device.pk}").json()["data"]
    assert body["status"] == "connected"
    assert body["connection_state"] == "open"
    assert body["phone_jid"] == "15550001111@s.whatsapp.net"
    assert body["qr_code"] is None
    assert body["qr_image"] is None


@pytest.mark.django_db
def test_a_destroyed_device_can_still_be_read(api, app) -> None:
    device = make_device(app)
    device.destroy()
    assert api.get(f"/devices/{device.pk}").json()["data"]["status"] == "destroyed"


@pytest.mark.django_db
@pytest.mark.parametrize("device_id", [uuid.uuid4(), "not-a-uuid"])
def test_read_an_unknown_device(api, device_id) -> None:
    response = api.get(f"/devices/{device_id}")
    assert error_of(response) == ("not_found" if isinstance(device_id, uuid.UUID) else "validation_error")


# --- QR ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_qr_after_expiry_shows_a_new_code(api, app) -> None:
    device = make_linking_device(app)
    device.mark_qr_expired()
    with RunnerSide(device.pk, shows_qr):
        response = api.post(f"/devices/{device.pk}/qr")
    assert response.status_code == 200
    assert response.json()["data"]["qr_code"] == QR


@pytest.mark.django_db
@pytest.mark.parametrize("make", [make_linking_device, connected_device])
def test_qr_is_refused_while_a_qr_is_valid_or_a_session_is_active(api, app, make) -> None:
    response = api.post(f"/devices/{make(app).pk}/qr")
    assert response.status_code == 409
    assert error_of(response) == "qr_reset_not_allowed"
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
def test_qr_of_a_destroyed_device_is_gone(api, app) -> None:
    device = make_device(app)
    device.destroy()
    response = api.post(f"/devices/{device.pk}/qr")
    assert response.status_code == 410
    assert error_of(response) == "device_destroyed"


# --- pairing code --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pair_code_returns_the_code(api, app) -> None:
    device = make_linking_device(app)

    def answer(command: DeviceCommand) -> None:
        assert command.kind == CommandKind.PAIR_PHONE
        assert command.payload == {"phone": "15145550199"}
        command.succeed({"code": "ABCD-EFGH"})

    with RunnerSide(device.pk, answer):
        response = api.post(f"/devices/{device.pk}/pair-code", {"phone": "+1 514 555 0199"})
    assert response.status_code == 200, response.content
    assert response.json()["data"]["pairing_code"] == "ABCD-EFGH"


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"phone": "call me"}, {"phone": "+12345"}])
def test_pair_code_refuses_a_bad_phone(api, app, body) -> None:
    response = api.post(f"/devices/{make_linking_device(app).pk}/pair-code", body)
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] == "phone"


@pytest.mark.django_db
def test_pair_code_of_a_linked_device_is_refused(api, app) -> None:
    response = api.post(f"/devices/{connected_device(app).pk}/pair-code", {"phone": "+1 514 555 0199"})
    assert error_of(response) == "qr_reset_not_allowed"


@pytest.mark.django_db(transaction=True)
def test_pair_code_relays_whatsapps_refusal(api, app) -> None:
    device = make_linking_device(app)
    with RunnerSide(device.pk, lambda command: command.fail(ErrorCode.PROVIDER_RATE_LIMITED)):
        response = api.post(f"/devices/{device.pk}/pair-code", {"phone": "+1 514 555 0199"})
    assert response.status_code == 429
    assert error_of(response) == "provider_rate_limit"
    assert response["Retry-After"]


# --- disconnect and destroy ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_disconnect_logs_out_and_keeps_the_device(api, app) -> None:
    device = connected_device(app)

    def logs_out(command: DeviceCommand) -> None:
        assert command.kind == CommandKind.LOGOUT
        Device.objects.get(pk=command.device_id).mark_disconnected(ErrorCode.LOGGED_OUT, permanent=True)
        command.succeed({})

    with RunnerSide(device.pk, logs_out):
        response = api.post(f"/devices/{device.pk}/disconnect")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "disconnected"


@pytest.mark.django_db
def test_destroy_is_terminal(api, app) -> None:
    device = make_device(app, "Sales")
    response = api.delete(f"/devices/{device.pk}")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "destroyed"
    assert Device.objects.get(pk=device.pk).status == DeviceStatus.DESTROYED
    again = api.delete(f"/devices/{device.pk}")
    assert again.status_code == 410
    assert error_of(again) == "device_destroyed"
    assert error_of(api.post(f"/devices/{device.pk}/disconnect")) == "device_destroyed"
    # the name is free again
    assert Device.create(app, "Sales").pk != device.pk
