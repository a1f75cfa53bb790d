"""Contact endpoints: is-on-WhatsApp check, user info (with both addresses), profile picture and
LID↔phone identity — the engine operation each asks the runner for, and every documented error."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from tests.factories import connected_device, make_contact, make_device
from tests.unit.api.conftest import error_of
from tests.unit.api.test_groups_api import Engine
from whatsapp.engine.base import OnWhatsApp, ProfilePicture, UserInfo
from whatsapp.errors import ErrorCode
from whatsapp.models import Contact, DeviceCommand
from whatsapp.runtime.runner import to_jsonable

PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
GROUP = "120363041234567890@g.us"
URL = "https://pps.whatsapp.net/v/t61/abc_n.jpg"

ENDPOINTS = [
    ("post", "/contacts/check", {"phones": ["+15551234567"]}, "is_on_whatsapp"),
    ("get", f"/contacts/{PHONE}", None, "user_info"),
    ("get", f"/contacts/{PHONE}/picture", None, "profile_picture"),
    ("get", f"/contacts/{PHONE}/identity", None, "lid_for_phone"),
]
IDS = [f"{m.upper()} {p}" for m, p, *_ in ENDPOINTS]


def call(api, device, method: str, path: str, body: Any):
    url = f"/devices/{device.pk}{path}"
    return api.get(url) if method == "get" else api.request(method, url, body)


# --- check --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_check_answers_per_number_in_the_order_given(api, app) -> None:
    device = connected_device(app)
    answer = to_jsonable([OnWhatsApp(query="+15551234567", jid=PHONE, is_on_whatsapp=True, verified_name="Acme"),
                          OnWhatsApp(query="+447911123456", jid="447911123456@s.whatsapp.net", is_on_whatsapp=False)])
    with Engine(device.pk, {"is_on_whatsapp": answer}) as engine:
        response = api.post(f"/devices/{device.pk}/contacts/check",
                            {"phones": ["+1 (555) 123-4567", "447911123456@s.whatsapp.net"]})
    assert response.status_code == 200, response.content
    assert engine.calls == [("is_on_whatsapp", {"phones": ["+15551234567", "+447911123456"]})]
    assert response.json()["data"] == {"count": 2, "results": [
        {"query": "+1 (555) 123-4567", "phone": "+15551234567", "jid": PHONE, "is_on_whatsapp": True,
         "verified_name": "Acme"},
        {"query": "447911123456@s.whatsapp.net", "phone": "+447911123456", "jid": "447911123456@s.whatsapp.net",
         "is_on_whatsapp": False, "verified_name": None},
    ]}


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"phones": []}, {"phones": "+15551234567"}, {"phones": ["0044 20 7946 0000"]},
                                  {"phones": ["call me"]}, {"phones": [LID]}, {"phones": [GROUP]},
                                  {"phones": ["+1555123"] * 51}, {"phones": ["+15551234567"], "x": 1}])
def test_check_refuses_bad_numbers(api, app, body: dict) -> None:
    response = api.post(f"/devices/{connected_device(app).pk}/contacts/check", body)
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"].split(".")[0] in ("phones", "x")
    assert not DeviceCommand.objects.exists()


# --- user info ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_info_by_phone_number_learns_the_lid_twin(api, app) -> None:
    device = connected_device(app)
    answer = to_jsonable([UserInfo(jid=PHONE, status="Hey there", verified_name="", picture_id="p1", lid=LID,
                                   phone_jid=PHONE)])
    with Engine(device.pk, {"user_info": answer}) as engine:
        response = api.get(f"/devices/{device.pk}/contacts/+15551234567")
    assert response.status_code == 200, response.content
    assert engine.calls == [("user_info", {"jids": [PHONE]})]
    assert response.json()["data"] == {"jid": PHONE, "phone_jid": PHONE, "lid": LID, "name": None, "push_name": None,
                                       "verified_name": None, "status": "Hey there", "picture_id": "p1"}
    assert Contact.objects.get(device=device, lid=LID).phone_jid == PHONE


@pytest.mark.django_db(transaction=True)
def test_info_by_lid_uses_the_stored_twin_and_names(api, app) -> None:
    device = connected_device(app)
    make_contact(device, phone_jid=PHONE, lid=LID, push_name="Ann", full_name="Ann Smith")
    with Engine(device.pk, {"user_info": []}):  # WhatsApp disclosed nothing: still a success
        response = api.get(f"/devices/{device.pk}/contacts/{LID}")
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"jid": LID, "phone_jid": PHONE, "lid": LID, "name": "Ann Smith",
                                       "push_name": "Ann", "verified_name": None, "status": None, "picture_id": None}


@pytest.mark.django_db(transaction=True)
def test_info_falls_back_to_the_verified_name(api, app) -> None:
    device = connected_device(app)
    answer = to_jsonable([UserInfo(jid=PHONE, verified_name="Acme Corp", phone_jid=PHONE)])
    with Engine(device.pk, {"user_info": answer}):
        data = api.get(f"/devices/{device.pk}/contacts/{PHONE}").json()["data"]
    assert (data["name"], data["verified_name"], data["lid"]) == ("Acme Corp", "Acme Corp", None)


# --- picture ----------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("jid", [PHONE, LID, GROUP])
def test_picture(api, app, jid: str) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"profile_picture": to_jsonable(ProfilePicture(jid=jid, url=URL, picture_id="p1"))}) as e:
        response = api.get(f"/devices/{device.pk}/contacts/{jid}/picture")
    assert response.status_code == 200, response.content
    assert e.calls == [("profile_picture", {"jid": jid})]
    assert response.json()["data"] == {"jid": jid, "url": URL, "picture_id": "p1"}


@pytest.mark.django_db(transaction=True)
def test_no_picture_is_a_success(api, app) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"profile_picture": None}):
        response = api.get(f"/devices/{device.pk}/contacts/15551234567/picture")
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"jid": PHONE, "url": None, "picture_id": None}


# --- identity -----------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("jid", "method", "args", "answer", "expected"), [
    (PHONE, "lid_for_phone", {"phone_jid": PHONE}, LID, {"jid": PHONE, "phone_jid": PHONE, "lid": LID}),
    (LID, "phone_for_lid", {"lid": LID}, PHONE, {"jid": LID, "phone_jid": PHONE, "lid": LID}),
    (LID, "phone_for_lid", {"lid": LID}, "", {"jid": LID, "phone_jid": None, "lid": LID}),
])
def test_identity_asks_whatsapp_for_an_unknown_twin(api, app, jid, method, args, answer, expected) -> None:
    device = connected_device(app)
    with Engine(device.pk, {method: answer}) as engine:
        response = api.get(f"/devices/{device.pk}/contacts/{jid}/identity")
    assert response.status_code == 200, response.content
    assert engine.calls == [(method, args)]
    assert response.json()["data"] == expected


@pytest.mark.django_db
@pytest.mark.parametrize("jid", [PHONE, LID])
def test_identity_of_a_known_twin_needs_no_connection(api, app, jid: str) -> None:
    device = make_device(app)  # not connected
    make_contact(device, phone_jid=PHONE, lid=LID)
    response = api.get(f"/devices/{device.pk}/contacts/{jid}/identity")
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"jid": jid, "phone_jid": PHONE, "lid": LID}
    assert not DeviceCommand.objects.exists()


# --- the errors every endpoint documents --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("jid", ["Ann", "123@c.us", "0044 20 7946", "+1 555", "abc@lid", GROUP])
@pytest.mark.parametrize("suffix", ["", "/identity"])
def test_a_path_that_is_not_a_person_is_refused(api, app, jid: str, suffix: str) -> None:
    response = api.get(f"/devices/{connected_device(app).pk}/contacts/{jid}{suffix}")
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] == "jid"
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("jid", ["Ann", "123@c.us", "abc@lid", "1@g.us@x"])
def test_a_picture_path_that_is_not_a_jid_is_refused(api, app, jid: str) -> None:
    response = api.get(f"/devices/{connected_device(app).pk}/contacts/{jid}/picture")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["field"] == "jid"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "engine_method"), ENDPOINTS, ids=IDS)
def test_a_device_that_is_not_connected_is_refused(api, app, method, path, body, engine_method) -> None:
    response = call(api, make_device(app), method, path, body)
    assert response.status_code == 409, response.content
    assert error_of(response) == "device_not_connected"
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "engine_method"), ENDPOINTS, ids=IDS)
def test_a_destroyed_device_is_gone(api, app, method, path, body, engine_method) -> None:
    device = connected_device(app)
    device.destroy()
    response = call(api, device, method, path, body)
    assert response.status_code == 410, response.content
    assert error_of(response) == "device_destroyed"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "engine_method"), ENDPOINTS, ids=IDS)
def test_an_unknown_device_is_not_found(api, method, path, body, engine_method) -> None:
    response = call(api, SimpleNamespace(pk=uuid.uuid4()), method, path, body)
    assert response.status_code == 404, response.content
    assert error_of(response) == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "engine_method"), ENDPOINTS, ids=IDS)
def test_no_answer_from_the_runner_is_an_upstream_timeout(api, app, monkeypatch, method, path, body,
                                                          engine_method) -> None:
    monkeypatch.setattr("whatsapp.services.commands.CALL_TIMEOUT_S", 0.05)
    response = call(api, connected_device(app), method, path, body)
    assert response.status_code == 504, response.content
    assert error_of(response) == "upstream_timeout"


FAILURES = [(ErrorCode.FORBIDDEN, 403, "forbidden"), (ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, 404,
                                                      "message_recipient_not_found"),
            (ErrorCode.PROVIDER_RATE_LIMITED, 429, "provider_rate_limit"), (ErrorCode.PROVIDER_ERROR, 502,
                                                                             "provider_error"),
            (ErrorCode.CONNECTION_ABORTED, 503, "whatsapp_connection_aborted"),
            (ErrorCode.REQUEST_CANCELED, 408, "request_canceled")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path", "body", "engine_method"), ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(("code", "status", "api_code"), FAILURES, ids=[f[2] for f in FAILURES])
def test_whatsapps_failure_is_relayed_with_its_code(api, app, method, path, body, engine_method, code: ErrorCode,
                                                    status: int, api_code: str) -> None:
    device = connected_device(app)
    with Engine(device.pk, {engine_method: code}):
        response = call(api, device, method, path, body)
    assert response.status_code == status, response.content
    assert error_of(response) == api_code
