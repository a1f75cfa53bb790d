"""Fixtures for the REST API tests: an app with its bearer token and a client that sends it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.factories import make_app_with_token


class ApiClient:
    """Django's test client speaking JSON with an app's bearer token."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.client = Client()

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        merged.update(headers or {})
        return merged

    def request(self, method: str, path: str, /, body: Any = None, *, raw: bytes | str | None = None,
                headers: dict[str, str] | None = None, **query: Any):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs: dict[str, Any] = {"headers": self._headers(headers)}
        if method == "get":
            return self.client.get(path, query or None, **kwargs)
        if data is not None:
            kwargs.update(data=data, content_type="application/json")
        return getattr(self.client, method)(path, **kwargs)

    def get(self, path: str, /, **kwargs: Any):
        return self.request("get", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.request("post", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any):
        return self.request("patch", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("delete", path, **kwargs)


def error_of(response) -> str:
    """The envelope's lower-case error code (and a check that the envelope is the shared one)."""
    body = response.json()
    assert set(body) == {"error", "request_id"}, body
    assert body["request_id"] == response["X-Request-ID"]
    assert body["error"]["status"] == response.status_code
    return body["error"]["code"]


def assert_refused(response, status: int, code: str, field: str | None = None) -> dict:
    """The response is the shared envelope's ``code`` with ``status`` (and ``details.field``, when
    given); returns the error object."""
    assert response.status_code == status, response.content
    assert error_of(response) == code
    error = response.json()["error"]
    if field is not None:
        assert error["details"]["field"] == field, error
    return error


@pytest.fixture
def app_token(db):
    return make_app_with_token()


@pytest.fixture
def api(app_token) -> ApiClient:
    return ApiClient(app_token[1])


@pytest.fixture
def app(app_token):
    return app_token[0]
