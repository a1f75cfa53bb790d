"""Every non-admin failure answers with the shared JSON envelope and a request id."""

import pytest
from django.test import Client

pytestmark = [pytest.mark.urls("tests.support.error_views"), pytest.mark.django_db]


@pytest.fixture
def client() -> Client:
    # Exceptions must reach the middleware as in production, not be re-raised into the test.
    return Client(raise_request_exception=False)


def test_whatsapp_error_renders_its_member(client):
    response = client.get("/boom/whatsapp")
    assert response.status_code == 429
    body = response.json()
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert body["error"]["name"] == "MESSAGE_RATE_LIMITED"
    assert body["error"]["details"]["limit"] == 60
    assert body["request_id"] == response["X-Request-ID"]
    assert response["Retry-After"] == "13"


def test_unexpected_exception_is_internal_error_without_leaking(client, caplog):
    response = client.get("/boom/unexpected")
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "internal_error"
    assert "secret internal detail" not in response.content.decode()
    assert "secret internal detail" in caplog.text  # but the operator's log has it


def test_unknown_path_is_not_found_envelope(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_method_not_allowed_envelope(client):
    response = client.post("/health")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "GET"


def test_oversize_body_is_request_too_large(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/boom/body", data=b"x" * 5000, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_admin_keeps_html_pages(client):
    response = client.get("/admin/no-such-page/")
    assert response["Content-Type"].startswith("text/html")


def test_request_id_is_honoured_and_echoed(client):
    response = client.get("/no/such/thing", HTTP_X_REQUEST_ID="abc-123.x")
    assert response["X-Request-ID"] == "abc-123.x"
    assert response.json()["request_id"] == "abc-123.x"


@pytest.mark.parametrize("offered", ["has space", "x" * 200, "bad\u00e9", ""])
def test_unsafe_request_id_is_replaced(client, offered):
    response = client.get("/health", HTTP_X_REQUEST_ID=offered)
    assert response["X-Request-ID"] != offered
    assert len(response["X-Request-ID"]) == 36
