"""App bearer tokens: shown once, stored only as a SHA-256, looked up by hash, rotated at will."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection

from tests.factories import make_app, make_app_with_token
from whatsapp.models import App

pytestmark = pytest.mark.django_db


def _stored_row(app: App) -> tuple:
    with connection.cursor() as cursor:
        pk = App._meta.pk.get_db_prep_value(app.pk, connection)
        cursor.execute(f"SELECT * FROM {App._meta.db_table} WHERE id = %s", [pk])
        row = cursor.fetchone()
    assert row is not None
    return row


def test_create_with_token_returns_a_wag_token() -> None:
    app, token = make_app_with_token()
    assert token.startswith("wag_")
    assert len(token) >= 40
    assert app.pk is not None


def test_each_app_gets_its_own_token() -> None:
    _, first = make_app_with_token()
    _, second = make_app_with_token()
    assert first != second


def test_only_the_sha256_of_the_token_is_stored() -> None:
    app, token = make_app_with_token()
    app.refresh_from_db()
    assert app.token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_token_is_in_no_database_column() -> None:
    app, token = make_app_with_token(webhook_url="https://example.test/hook", webhook_secret="s3cret")
    secret_part = token.removeprefix("wag_")
    for value in _stored_row(app):
        assert token not in str(value)
        assert secret_part not in str(value)


def test_token_hint_is_a_short_prefix_only() -> None:
    app, token = make_app_with_token()
    assert token.startswith(app.token_hint)
    assert len(app.token_hint) < len(token) // 2


def test_authenticate_finds_the_app() -> None:
    app, token = make_app_with_token()
    make_app_with_token()  # another app must not be confused with this one
    found = App.authenticate(token)
    assert found is not None
    assert found.pk == app.pk
    assert found.tenant == app.tenant


def test_authenticate_rejects_a_wrong_token() -> None:
    make_app_with_token()
    assert App.authenticate("wag_" + "A" * 43) is None


@pytest.mark.parametrize("token", ["", None])
def test_authenticate_rejects_an_empty_token(token: str | None) -> None:
    make_app_with_token()
    assert App.authenticate(token) is None


def test_authenticate_rejects_a_token_without_its_prefix() -> None:
    _, token = make_app_with_token()
    assert App.authenticate(token.removeprefix("wag_")) is None


@pytest.mark.parametrize("mangle", [str.upper, lambda t: t + " ", lambda t: " " + t, lambda t: t[:-1]],
                         ids=["upper", "trailing-space", "leading-space", "truncated"])
def test_authenticate_rejects_a_malformed_token(mangle) -> None:
    _, token = make_app_with_token()
    assert App.authenticate(mangle(token)) is None


def test_the_stored_hash_is_not_a_token() -> None:
    app, _ = make_app_with_token()
    assert App.authenticate(app.token_hash) is None
    assert App.authenticate("wag_" + app.token_hash) is None


def test_authenticate_rejects_an_inactive_app() -> None:
    app, token = make_app_with_token()
    app.is_active = False
    app.save()
    assert App.authenticate(token) is None


def test_rotate_token_invalidates_the_old_token() -> None:
    app, old = make_app_with_token()
    new = app.rotate_token()
    assert new != old
    assert new.startswith("wag_")
    assert App.authenticate(old) is None
    found = App.authenticate(new)
    assert found is not None
    assert found.pk == app.pk


def test_rotate_token_stores_the_new_hash_and_hint() -> None:
    app, old = make_app_with_token()
    issued = app.token_issued_at
    new = app.rotate_token()
    app.refresh_from_db()
    assert app.token_hash == hashlib.sha256(new.encode()).hexdigest()
    assert new.startswith(app.token_hint)
    assert app.token_issued_at >= issued
    for value in _stored_row(app):
        assert new not in str(value)
        assert old not in str(value)


def test_empty_event_filter_wants_every_event() -> None:
    app = make_app(webhook_events=[])
    assert app.wants_event("message")
    assert app.wants_event("device_connected")


def test_event_filter_lets_only_listed_events_through() -> None:
    app = make_app(webhook_events=["message", "approval_resolved"])
    assert app.wants_event("message")
    assert app.wants_event("approval_resolved")
    assert not app.wants_event("receipt")
    assert not app.wants_event("device_connected")
