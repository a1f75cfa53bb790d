"""/webhooks/deliveries: the app's delivery log (newest first, every filter, cursor pages, counters),
one delivery with its attempts and envelope, redeliver, tenant isolation and bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import make_app_with_token, make_device
from tests.unit.api.conftest import ApiClient, error_of
from whatsapp.api.site import api as ninja_api
from whatsapp.models import App, DeliveryState, Device, DeviceEvent, WebhookAttempt, WebhookDelivery
from whatsapp.webhooks.envelope import envelope

URL = "https://hooks.example.test/wa"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LIST = "/webhooks/deliveries"
FIELDS = {"id", "event", "device_id", "sequence", "request_id", "url", "state", "attempts", "next_attempt_at",
          "retry_until", "last_attempt_at", "last_status_code", "last_error_code", "last_error", "replays",
          "created_at", "delivered_at"}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def deliver(device: Device, event: str = "message", *, minutes: float | None = None,
            state: str | None = None, **payload: object) -> WebhookDelivery:
    """Append an event (the event log plans the delivery) and place the delivery at ``minutes``."""
    delivery = WebhookDelivery.objects.get(event=DeviceEvent.append(device.pk, event, payload or {"n": 1}))
    changes: dict[str, object] = {}
    if minutes is not None:
        changes["created_at"] = at(minutes)
    if state is not None:
        changes["state"] = state
    if changes:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
        delivery.refresh_from_db()
    return delivery


@pytest.fixture
def hooked(db) -> tuple[App, ApiClient]:
    app, token = make_app_with_token(webhook_url=URL)
    return app, ApiClient(token)


@pytest.fixture
def api(hooked) -> ApiClient:
    return hooked[1]


@pytest.fixture
def device(hooked) -> Device:
    return make_device(hooked[0])


@pytest.fixture
def logged(hooked, device) -> list[WebhookDelivery]:
    """Seven deliveries of two devices; three of them at the very same instant (ties break by event)."""
    other = make_device(hooked[0])
    plan = [(device, "message", 1, "succeeded"), (device, "receipt", 2, "succeeded"), (other, "message", 3, "dead"),
            (device, "message", 3, "failed"), (other, "reaction", 3, "pending"), (device, "message", 4, "dead"),
            (other, "message", 5, "pending")]
    return [deliver(dev, event, minutes=minutes, state=state) for dev, event, minutes, state in plan]


def listing(api: ApiClient, **query: object) -> dict:
    response = api.get(LIST, **query)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def ids(data: dict) -> list[str]:
    return [item["id"] for item in data["deliveries"]]


def walk(api: ApiClient, cursor: str | None = None, **query: object) -> list[str]:
    seen: list[str] = []
    while True:
        data = listing(api, **query, **({"cursor": cursor} if cursor else {}))
        seen += ids(data)
        cursor = data["next_cursor"]
        if cursor is None:
            return seen


def newest_first(deliveries: list[WebhookDelivery]) -> list[str]:
    return [str(d.pk) for d in sorted(deliveries, key=lambda d: (d.created_at, d.event_id), reverse=True)]


def refused(response, code: str, status: int) -> dict:
    assert response.status_code == status, response.content
    assert error_of(response) == code
    return response.json()["error"]


# --- the list -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_newest_first_in_pages_without_duplicates_or_gaps(api, logged) -> None:
    first = listing(api, limit=3)
    assert ids(first) == newest_first(logged)[:3]
    assert first["next_cursor"]
    assert walk(api, limit=3) == newest_first(logged)
    assert walk(api, limit=1) == newest_first(logged)
    everything = listing(api)
    assert (ids(everything), everything["next_cursor"]) == (newest_first(logged), None)


@pytest.mark.django_db
def test_pages_are_stable_while_deliveries_arrive(api, device, logged) -> None:
    first = listing(api, limit=3)
    deliver(device, minutes=10)  # above the cursor
    deliver(device, minutes=3)  # the tied instant, a later event: above the cursor too
    rest = walk(api, limit=2, cursor=first["next_cursor"])
    assert ids(first) + rest == newest_first(logged)


@pytest.mark.django_db
def test_the_delivery_shape(api, device) -> None:
    delivery = deliver(device, minutes=1)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.DEAD, attempts=3, last_status_code=500, last_error_code="WEBHOOK_DELIVERY_FAILED",
        last_error="HTTP 500", last_attempt_at=at(2), retry_until=at(60))
    (item,) = listing(api)["deliveries"]
    assert set(item) == FIELDS
    assert item["id"] == str(delivery.pk)
    assert (item["event"], item["device_id"], item["sequence"], item["url"]) == ("message", str(device.pk),
                                                                                  delivery.sequence, URL)
    assert item["request_id"] == str(delivery.request_id)
    assert (item["state"], item["attempts"], item["last_status_code"]) == ("dead", 3, 500)
    assert (item["last_error_code"], item["last_error"]) == ("webhook_delivery_failed", "HTTP 500")
    assert item["next_attempt_at"] is None  # dead: nothing is scheduled
    assert (item["replays"], item["delivered_at"]) == (0, None)
    assert item["created_at"] == "2025-03-01T12:01:00Z"
    assert item["retry_until"] == "2025-03-01T13:00:00Z"


@pytest.mark.django_db
def test_next_attempt_only_while_open(api, logged) -> None:
    for item in listing(api)["deliveries"]:
        assert (item["next_attempt_at"] is not None) == (item["state"] in ("pending", "failed")), item


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["pending", "succeeded", "failed", "dead"])
def test_filter_by_state(api, logged, state: str) -> None:
    assert walk(api, state=state, limit=1) == newest_first([d for d in logged if d.state == state])


@pytest.mark.django_db
@pytest.mark.parametrize("event", ["message", "receipt", "reaction", "device_connected"])
def test_filter_by_event(api, logged, event: str) -> None:
    assert walk(api, event=event, limit=2) == newest_first([d for d in logged if d.event_type == event])


@pytest.mark.django_db
def test_filter_by_device(api, device, logged) -> None:
    assert walk(api, device_id=str(device.pk), limit=2) == newest_first([d for d in logged
                                                                         if d.device_id == device.pk])
    assert ids(listing(api, device_id=str(uuid.uuid4()))) == []


@pytest.mark.django_db
def test_filter_by_time_bounds_are_exclusive(api, logged) -> None:
    assert ids(listing(api, before=at(3).isoformat())) == newest_first(logged[:2])
    assert ids(listing(api, after="2025-03-01T12:03:00Z")) == newest_first(logged[5:])
    assert ids(listing(api, after=at(1).isoformat(), before="2025-03-01T13:04:00+01:00")) == newest_first(logged[1:5])


@pytest.mark.django_db
def test_filters_combine(api, device, logged) -> None:
    assert ids(listing(api, state="dead", event="message", device_id=str(device.pk))) == [str(logged[5].pk)]
    assert ids(listing(api, state="pending", after=at(4).isoformat())) == [str(logged[6].pk)]


@pytest.mark.django_db
def test_counters_count_the_whole_app_whatever_the_filters(api, logged) -> None:
    other_app = make_app_with_token(webhook_url=URL)[0]
    deliver(make_device(other_app), state="dead")  # another app's: not counted
    expected = {"pending": 2, "failed": 1, "dead": 2, "succeeded": 2}
    assert listing(api)["counters"] == expected
    assert listing(api, state="succeeded", limit=1)["counters"] == expected


@pytest.mark.django_db
def test_an_app_without_deliveries(db) -> None:
    _, token = make_app_with_token()
    assert listing(ApiClient(token)) == {"deliveries": [], "next_cursor": None,
                                         "counters": {"pending": 0, "failed": 0, "dead": 0, "succeeded": 0}}


# --- one delivery ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_detail_has_the_attempt_log_and_the_envelope(api, device) -> None:
    delivery = deliver(device, text="hello")
    WebhookAttempt.objects.create(delivery=delivery, number=2, url=URL, started_at=at(1), duration_ms=10000,
                                  error_code="CONNECTION_TIMEOUT", error="timed out")
    WebhookAttempt.objects.create(delivery=delivery, number=1, url=URL, started_at=at(0), duration_ms=85,
                                  status_code=503, error_code="WEBHOOK_DELIVERY_FAILED", response_body="busy")
    response = api.get(f"{LIST}/{delivery.pk}")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert set(data) == FIELDS | {"attempt_log", "envelope"}
    assert data["id"] == str(delivery.pk)
    assert data["attempt_log"] == [
        {"number": 1, "url": URL, "started_at": "2025-03-01T12:00:00Z", "duration_ms": 85, "status_code": 503,
         "error_code": "webhook_delivery_failed", "error": None, "response_body": "busy"},
        {"number": 2, "url": URL, "started_at": "2025-03-01T12:01:00Z", "duration_ms": 10000, "status_code": None,
         "error_code": "upstream_timeout", "error": "timed out", "response_body": None},
    ]
    assert data["envelope"] == envelope(delivery, delivery.event)
    assert data["envelope"]["payload"] == {"text": "hello"}
    assert (data["envelope"]["request_id"], data["envelope"]["sequence"]) == (str(delivery.request_id),
                                                                              delivery.sequence)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "12345", str(uuid.uuid4())])
def test_an_unknown_or_malformed_id_is_not_found(api, method: str, bad_id: str) -> None:
    path = f"{LIST}/{bad_id}" + ("/redeliver" if method == "post" else "")
    refused(api.request(method, path), "not_found", 404)


# --- redeliver ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_redeliver_a_dead_delivery(api, device) -> None:
    delivery = deliver(device, state=DeliveryState.DEAD)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=9, retry_until=at(0), replays=1)
    response = api.post(f"{LIST}/{delivery.pk}/redeliver")
    assert response.status_code == 202, response.content
    data = response.json()["data"]
    assert set(data) == FIELDS
    assert (data["id"], data["state"], data["replays"]) == (str(delivery.pk), "pending", 2)
    assert data["request_id"] == str(delivery.request_id)  # receivers can deduplicate the replay
    assert data["next_attempt_at"] is not None
    assert data["retry_until"] is None
    delivery.refresh_from_db()
    assert (delivery.state, delivery.replays) == (DeliveryState.PENDING, 2)
    assert listing(api)["counters"] == {"pending": 1, "failed": 0, "dead": 0, "succeeded": 0}


@pytest.mark.django_db
def test_redeliver_a_succeeded_delivery(api, device) -> None:
    delivery = deliver(device, state=DeliveryState.SUCCEEDED)
    response = api.post(f"{LIST}/{delivery.pk}/redeliver")
    assert response.status_code == 202, response.content
    assert (response.json()["data"]["state"], response.json()["data"]["replays"]) == ("pending", 1)


@pytest.mark.django_db
@pytest.mark.parametrize("webhook_url", ["", "/relative/hook"])
def test_redeliver_without_a_usable_url(hooked, api, device, settings, webhook_url: str) -> None:
    settings.WEBHOOK_BASE_URL = ""
    delivery = deliver(device, state=DeliveryState.DEAD)
    App.objects.filter(pk=hooked[0].pk).update(webhook_url=webhook_url)
    refused(api.post(f"{LIST}/{delivery.pk}/redeliver"), "webhook_not_configured", 409)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.replays) == (DeliveryState.DEAD, 0)


# --- isolation ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_apps_deliveries_do_not_exist(api, logged) -> None:
    victim_app = make_app_with_token(webhook_url=URL)[0]
    victim_device = make_device(victim_app)
    theirs = deliver(victim_device, state=DeliveryState.DEAD)
    refused(api.get(f"{LIST}/{theirs.pk}"), "not_found", 404)
    refused(api.post(f"{LIST}/{theirs.pk}/redeliver"), "not_found", 404)
    theirs.refresh_from_db()
    assert (theirs.state, theirs.replays) == (DeliveryState.DEAD, 0)
    assert str(theirs.pk) not in walk(api, limit=2)
    assert ids(listing(api, device_id=str(victim_device.pk))) == []


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "field"), [
    ({"state": "bogus"}, "state"),
    ({"state": "PENDING"}, "state"),
    ({"event": "nope"}, "event"),
    ({"event": "message\u0000"}, "event"),
    ({"device_id": "not-a-uuid"}, "device_id"),
    ({"device_id": "1"}, "device_id"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": "WzEsIm5vdCBhIGRhdGUiLDFd"}, "cursor"),  # [1,"not a date",1]
    ({"cursor": "x" * 501}, "cursor"),
    ({"after": "yesterday"}, "after"),
    ({"before": "2025-03-01T12:00:00"}, "before"),  # no offset: not RFC 3339
    ({"before": "9999-12-31T23:59:59-23:59"}, "before"),  # past the calendar once in UTC
    ({"after": "0001-01-01T00:00:00+23:59"}, "after"),
    ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"),
    ({"limit": "many"}, "limit"),
])
def test_bad_parameters_are_validation_errors(api, logged, query: dict, field: str) -> None:
    error = refused(api.get(LIST, **query), "validation_error", 400)
    assert error["details"]["field"] == field


@pytest.mark.django_db
def test_limit_bounds(api, logged) -> None:
    assert len(listing(api, limit=200)["deliveries"]) == 7
    assert len(listing(api, limit=1)["deliveries"]) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), [("get", LIST), ("get", f"{LIST}/{uuid.uuid4()}"),
                                              ("post", f"{LIST}/{uuid.uuid4()}/redeliver")])
def test_an_app_token_is_required(db, method: str, path: str) -> None:
    refused(ApiClient(None).request(method, path), "invalid_api_key", 401)
    refused(ApiClient("wag_bogus").request(method, path), "invalid_api_key", 401)


def test_the_openapi_document_names_the_statuses() -> None:
    paths = ninja_api.get_openapi_schema()["paths"]
    listed = paths[LIST]["get"]
    assert {200, 400, 401, 429, 500, 503} <= set(listed["responses"])
    assert listed["security"] == [{"AppToken": []}]
    assert {200, 404} <= set(paths[LIST + "/{delivery_id}"]["get"]["responses"])
    assert {202, 404, 409} <= set(paths[LIST + "/{delivery_id}/redeliver"]["post"]["responses"])
    parameters = {p["name"]: p["schema"] for p in listed["parameters"]}
    assert set(parameters) == {"state", "event", "device_id", "after", "before", "limit", "cursor"}
