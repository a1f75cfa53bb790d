"""Tenant isolation, generated from the API's own route table: for every operation whose path names
a resource, app B's credentials on app A's resource answer ``not_found`` (404) and change nothing.
A new route is covered the day it is added; a route with a parameter this test cannot fill fails
here until the parameter gets a value below."""

from __future__ import annotations

import re

import pytest

from tests.factories import connected_device, make_app_with_token, make_approval, make_message
from tests.unit.api.conftest import ApiClient, error_of
from whatsapp.api.site import api as ninja_api
from whatsapp.models import Device, DeviceCommand, DeviceEvent, Message, WebhookDelivery

PARAM = re.compile(r"{(\w+)}")
# Routes whose path names no resource of a particular app (they act on the caller's own app).
UNSCOPED = {"/health", "/ready", "/devices", "/devices/deploy", "/apps", "/webhooks/deliveries"}


def operations() -> list[tuple[str, str]]:
    schema = ninja_api.get_openapi_schema()
    return [(method.upper(), path) for path, item in schema["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")]


def test_the_route_table_is_not_empty() -> None:
    scoped = [op for op in operations() if op[1] not in UNSCOPED]
    assert len(scoped) >= 25, scoped


@pytest.fixture
def victim(db):
    """App A, with a connected device, a message, and what else a route may name."""
    app, _ = make_app_with_token(webhook_url="https://hooks.example.test/wa")
    device = connected_device(app)
    message = make_message(device, wa_id="3EB0AAAABBBBCCCCDDDD01")
    delivery = WebhookDelivery.objects.get(event=DeviceEvent.append(device.pk, "message", {}))
    approval = make_approval(device)
    return {"app": app, "device": device, "message": message, "delivery": delivery, "approval": approval}


def fill(path: str, victim: dict) -> str:
    values = {
        "device_id": str(victim["device"].pk),
        "message_id": victim["message"].wa_id,
        "mid": victim["message"].wa_id,
        "jid": victim["message"].chat.jid,
        "chat_jid": victim["message"].chat.jid,
        "group_jid": "120363000000000001@g.us",
        "app_id": str(victim["app"].pk),
        "delivery_id": str(victim["delivery"].pk),
        "approval_id": victim["approval"].pk,
    }

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            pytest.fail(f"{path}: no value for path parameter {name!r}; add one to fill()")
        return values[name]

    return PARAM.sub(value, path)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [op for op in operations() if op[1] not in UNSCOPED and
                                              not op[1].startswith("/apps")])
def test_another_apps_resource_is_not_found(victim, method: str, path: str) -> None:
    _, intruder_token = make_app_with_token()
    intruder = ApiClient(intruder_token)
    before = (Message.objects.count(), DeviceCommand.objects.count(), Device.objects.get(pk=victim["device"].pk).status)
    url = fill(path, victim)
    query = {}
    if path == "/media":
        query = {"path": f"media/{victim['app'].pk}/{victim['device'].pk}-{victim['message'].wa_id}.jpg"}
    response = intruder.request(method.lower(), url, body={} if method != "GET" else None, **query)
    assert response.status_code == 404, (method, url, response.content)
    assert error_of(response) == "not_found"
    after = (Message.objects.count(), DeviceCommand.objects.count(), Device.objects.get(pk=victim["device"].pk).status)
    assert after == before


@pytest.mark.django_db
def test_listing_shows_only_the_callers_devices(victim) -> None:
    _, intruder_token = make_app_with_token()
    assert ApiClient(intruder_token).get("/devices").json()["data"] == {"devices": [], "count": 0}
