"""wa-server's profile (contact or group, picture best effort) and presence (a cache of presence
events that works offline, subscribing once per connection) endpoints, with every documented error."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils.dateparse import parse_datetime

from tests.factories import connected_device, make_contact, make_device
from tests.unit.api.conftest import error_of
from tests.unit.api.test_groups_api import Engine, info
from whatsapp.engine.base import PresenceChanged, ProfilePicture, UserInfo
from whatsapp.errors import ErrorCode
from whatsapp.models import CommandKind, DeviceCommand, DeviceEvent, EventType
from whatsapp.runtime.runner import to_jsonable
from whatsapp.services import ingest

PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
GROUP = "120363041234567890@g.us"
OWN = "15550001111@s.whatsapp.net"
URL = "https://pps.whatsapp.net/v/t61/abc_n.jpg"


def picture(jid: str) -> dict:
    return to_jsonable(ProfilePicture(jid=jid, url=URL, picture_id="p1"))


# --- profile --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_contact_profile_by_phone_number(api, app) -> None:
    device = connected_device(app)
    make_contact(device, phone_jid=PHONE, push_name="Ann")
    answers = {"user_info": to_jsonable([UserInfo(jid=PHONE, status="Busy", lid=LID, phone_jid=PHONE)]),
               "profile_picture": picture(PHONE)}
    with Engine(device.pk, answers, expect=2) as engine:
        response = api.get(f"/devices/{device.pk}/profile", jid="+15551234567")
    assert response.status_code == 200, response.content
    assert engine.calls == [("user_info", {"jids": [PHONE]}), ("profile_picture", {"jid": PHONE})]
    assert response.json()["data"] == {"type": "contact", "jid": PHONE, "phone_jid": PHONE, "lid": LID,
                                       "name": "Ann", "push_name": "Ann", "verified_name": None, "status": "Busy",
                                       "picture_url": URL}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failure", [None, ErrorCode.FORBIDDEN, ErrorCode.CONNECTION_TIMEOUT])
def test_a_hidden_or_failing_picture_does_not_spoil_the_profile(api, app, failure) -> None:
    device = connected_device(app)
    answers = {"user_info": to_jsonable([UserInfo(jid=LID, lid=LID)]), "profile_picture": failure}
    with Engine(device.pk, answers, expect=2):
        response = api.get(f"/devices/{device.pk}/profile", jid=LID)
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["type"], data["jid"], data["lid"], data["phone_jid"], data["picture_url"]) == (
        "contact", LID, LID, None, None)


@pytest.mark.django_db(transaction=True)
def test_group_profile(api, app) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"group_info": info(), "profile_picture": picture(GROUP)}, expect=2) as engine:
        response = api.get(f"/devices/{device.pk}/profile", jid=GROUP)
    assert response.status_code == 200, response.content
    assert engine.calls == [("group_info", {"group_jid": GROUP}), ("profile_picture", {"jid": GROUP})]
    data = response.json()["data"]
    assert data["type"] == "group"
    assert (data["jid"], data["subject"], data["description"], data["owner"], data["participant_count"]) == (
        GROUP, "Team", "Plans", OWN, 2)
    assert data["participants"] == [
        {"jid": OWN, "phone_jid": None, "lid": None, "is_admin": True, "is_super_admin": True},
        {"jid": LID, "phone_jid": PHONE, "lid": LID, "is_admin": False, "is_super_admin": False}]
    assert data["picture_url"] == URL


@pytest.mark.django_db
@pytest.mark.parametrize("query", [{}, {"jid": ""}, {"jid": "Ann"}, {"jid": "123@c.us"}, {"jid": "0044 20 7946 0000"},
                                   {"jid": "x" * 201}])
def test_profile_refuses_a_bad_jid(api, app, query: dict) -> None:
    response = api.get(f"/devices/{connected_device(app).pk}/profile", **query)
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] == "jid"
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("jid", [PHONE, GROUP])
def test_profile_needs_a_connected_device(api, app, jid: str) -> None:
    response = api.get(f"/devices/{make_device(app).pk}/profile", jid=jid)
    assert response.status_code == 409
    assert error_of(response) == "device_not_connected"
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
def test_profile_of_a_destroyed_or_unknown_device(api, app) -> None:
    device = connected_device(app)
    device.destroy()
    assert error_of(api.get(f"/devices/{device.pk}/profile", jid=PHONE)) == "device_destroyed"
    assert error_of(api.get(f"/devices/{uuid.uuid4()}/profile", jid=PHONE)) == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("jid", [PHONE, GROUP])
def test_profile_without_an_answer_is_an_upstream_timeout(api, app, monkeypatch, jid: str) -> None:
    monkeypatch.setattr("whatsapp.services.commands.CALL_TIMEOUT_S", 0.05)
    response = api.get(f"/devices/{connected_device(app).pk}/profile", jid=jid)
    assert response.status_code == 504
    assert error_of(response) == "upstream_timeout"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("jid", "method"), [(PHONE, "user_info"), (GROUP, "group_info")])
@pytest.mark.parametrize(("code", "status", "api_code"), [(ErrorCode.FORBIDDEN, 403, "forbidden"),
                                                          (ErrorCode.NOT_FOUND, 404, "not_found"),
                                                          (ErrorCode.PROVIDER_ERROR, 502, "provider_error")])
def test_profile_relays_whatsapps_failure(api, app, jid, method, code, status, api_code) -> None:
    device = connected_device(app)
    with Engine(device.pk, {method: code}):
        response = api.get(f"/devices/{device.pk}/profile", jid=jid)
    assert response.status_code == status
    assert error_of(response) == api_code


# --- presence ---------------------------------------------------------------------------------------------


def subscriptions(device) -> list[dict]:
    return [c.payload["args"] for c in DeviceCommand.objects.filter(device=device, kind=CommandKind.CALL)
            if c.payload["method"] == "subscribe_presence"]


@pytest.mark.django_db
def test_presence_is_unknown_until_an_update_arrives_and_the_first_query_subscribes(api, app) -> None:
    device = connected_device(app)
    response = api.get(f"/devices/{device.pk}/presence", jid="+15551234567")
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"jid": PHONE, "status": "unknown", "last_seen": None, "updated_at": None}
    assert subscriptions(device) == [{"jid": PHONE}]
    command = DeviceCommand.objects.get(device=device)
    assert command.deadline is not None  # a subscription the runner cannot take in time is dropped
    api.get(f"/devices/{device.pk}/presence", jid=PHONE)
    assert subscriptions(device) == [{"jid": PHONE}], "once per connection"


@pytest.mark.django_db
def test_a_new_connection_subscribes_again(api, app) -> None:
    device = connected_device(app)
    api.get(f"/devices/{device.pk}/presence", jid=PHONE)
    DeviceCommand.objects.update(state="done")
    DeviceEvent.append(device.pk, EventType.DEVICE_CONNECTED, {})  # WhatsApp forgot the subscriptions
    api.get(f"/devices/{device.pk}/presence", jid=PHONE)
    assert subscriptions(device) == [{"jid": PHONE}, {"jid": PHONE}]


@pytest.mark.django_db
def test_a_failed_subscription_is_asked_again(api, app) -> None:
    device = connected_device(app)
    api.get(f"/devices/{device.pk}/presence", jid=PHONE)
    DeviceCommand.objects.update(state="failed")
    api.get(f"/devices/{device.pk}/presence", jid=PHONE)
    assert len(subscriptions(device)) == 2


@pytest.mark.django_db
def test_presence_answers_the_last_update(api, app) -> None:
    device = connected_device(app)
    seen = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    ingest.ingest_presence(device, PresenceChanged(jid=PHONE, available=True))
    ingest.ingest_presence(device, PresenceChanged(jid=PHONE, available=False, last_seen=seen))
    ingest.ingest_presence(device, PresenceChanged(jid="15559990000@s.whatsapp.net", available=True))
    data = api.get(f"/devices/{device.pk}/presence", jid=PHONE).json()["data"]
    assert (data["jid"], data["status"], data["last_seen"]) == (PHONE, "offline", "2026-03-01T12:30:00Z")
    event = DeviceEvent.objects.filter(type=EventType.PRESENCE).order_by("sequence")[1]
    assert abs(parse_datetime(data["updated_at"]) - event.created_at) < timedelta(milliseconds=1)
    ingest.ingest_presence(device, PresenceChanged(jid=PHONE, available=True))
    data = api.get(f"/devices/{device.pk}/presence", jid=PHONE).json()["data"]
    assert (data["status"], data["last_seen"]) == ("online", None)


@pytest.mark.django_db
def test_presence_follows_the_person_across_their_twin(api, app) -> None:
    device = connected_device(app)
    make_contact(device, phone_jid=PHONE, lid=LID)
    ingest.ingest_presence(device, PresenceChanged(jid=LID, available=True))
    data = api.get(f"/devices/{device.pk}/presence", jid=PHONE).json()["data"]
    assert (data["jid"], data["status"]) == (PHONE, "online")


@pytest.mark.django_db
def test_presence_works_offline_without_subscribing(api, app) -> None:
    device = make_device(app)  # not connected
    ingest.ingest_presence(device, PresenceChanged(jid=PHONE, available=True))
    response = api.get(f"/devices/{device.pk}/presence", jid=PHONE)
    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == "online"
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("query", [{}, {"jid": ""}, {"jid": "Ann"}, {"jid": GROUP}, {"jid": "123@c.us"},
                                   {"jid": "+1 555"}])
def test_presence_refuses_a_bad_jid(api, app, query: dict) -> None:
    response = api.get(f"/devices/{connected_device(app).pk}/presence", **query)
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] == "jid"
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
def test_presence_of_a_destroyed_or_unknown_device(api, app) -> None:
    device = connected_device(app)
    device.destroy()
    response = api.get(f"/devices/{device.pk}/presence", jid=PHONE)
    assert (response.status_code, error_of(response)) == (410, "device_destroyed")
    response = api.get(f"/devices/{uuid.uuid4()}/presence", jid=PHONE)
    assert (response.status_code, error_of(response)) == (404, "not_found")
