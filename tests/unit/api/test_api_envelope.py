"""What every endpoint shares: bearer auth, the error envelope for bad input, request ids, the
per-app request limiter, and the audit row for each request that tries to change something."""

from __future__ import annotations

import pytest

from audit.models import AuditLog
from tests.factories import make_app_with_token, make_device
from tests.unit.api.conftest import ApiClient, error_of


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wag_nope", "Basic dXNlcjpwYXNz", "wag_xyz"])
def test_a_missing_or_wrong_token_is_invalid_api_key(header) -> None:
    client = ApiClient(None)
    response = client.get("/devices", headers={"Authorization": header} if header else None)
    assert response.status_code == 401
    assert error_of(response) == "invalid_api_key"


@pytest.mark.django_db
def test_an_inactive_apps_token_stops_working() -> None:
    app, token = make_app_with_token()
    app.is_active = False
    app.save()
    assert error_of(ApiClient(token).get("/devices")) == "invalid_api_key"


@pytest.mark.django_db
def test_health_needs_no_token() -> None:
    response = ApiClient(None).get("/health")
    assert response.status_code == 200
    assert response.content == b"ok"


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "\xff\xfe"])
def test_malformed_json_is_a_validation_error(api, raw) -> None:
    response = api.post("/devices", raw=raw)
    assert response.status_code == 400
    assert error_of(response) == "validation_error"


@pytest.mark.django_db
def test_a_body_over_the_limit_is_request_too_large(api, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api.post("/devices", {"device_name": "x" * 2000})
    assert response.status_code == 413
    assert error_of(response) == "request_too_large"


@pytest.mark.django_db
def test_an_unknown_route_is_not_found_in_the_envelope(api) -> None:
    response = api.get("/nowhere")
    assert response.status_code == 404
    assert error_of(response) == "not_found"


@pytest.mark.django_db
def test_a_wrong_method_is_method_not_allowed(api) -> None:
    response = api.request("put", "/devices")
    assert response.status_code == 405
    assert error_of(response) == "method_not_allowed"


@pytest.mark.django_db
def test_the_callers_request_id_is_echoed(api) -> None:
    response = api.get("/devices/not-a-uuid", headers={"X-Request-ID": "trace-42"})
    assert response["X-Request-ID"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"


@pytest.mark.django_db
def test_the_request_limiter_answers_429_with_its_headers(api, settings) -> None:
    settings.API_RATE_LIMIT_PER_MIN = 3
    answers = [api.get("/devices") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    limited = answers[-1]
    assert error_of(limited) == "rate_limit_exceeded"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["X-RateLimit-Limit"] == "3"


@pytest.mark.django_db
def test_the_limiter_counts_each_app_apart(api, settings) -> None:
    settings.API_RATE_LIMIT_PER_MIN = 1
    assert api.get("/devices").status_code == 200
    assert ApiClient(make_app_with_token()[1]).get("/devices").status_code == 200


@pytest.mark.django_db
def test_mutations_are_audited_with_their_outcome(api, app) -> None:
    device = make_device(app)
    api.delete(f"/devices/{device.pk}")
    api.delete(f"/devices/{device.pk}")
    api.get("/devices")
    rows = list(AuditLog.objects.order_by("created_at"))
    assert [(r.action, r.success, r.error_code) for r in rows] == [
        ("DELETE /devices/{device_id}", True, ""),
        ("DELETE /devices/{device_id}", False, "DEVICE_DESTROYED"),
    ]
    assert all(r.app == app and r.device == device and r.surface == "api" for r in rows)
    assert rows[0].request_id
    assert rows[0].details["status"] == 200


@pytest.mark.django_db
def test_strangers_do_not_write_the_audit_log() -> None:
    ApiClient("wag_bogus").post("/devices", {"device_name": "x"})
    assert not AuditLog.objects.exists()


@pytest.mark.django_db
def test_the_openapi_document_describes_the_envelopes(api) -> None:
    schema = api.get("/openapi.json").json()
    create = schema["paths"]["/devices"]["post"]
    assert {"201", "400", "401", "409", "429", "504"} <= set(create["responses"])
    assert create["security"] == [{"AppToken": []}]
    assert api.get("/docs").status_code == 200
