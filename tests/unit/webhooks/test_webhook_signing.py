"""Receivers can verify every delivery: with the Standard Webhooks library, and with the documented
``X-WA-Signature`` HMAC; a rotated-out secret keeps verifying during its overlap, then stops."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import time_machine
from standardwebhooks import Webhook, WebhookVerificationError

from tests.unit.webhooks.conftest import SECRET, deliver_all, emit
from whatsapp.services.apps import update_app
from whatsapp.webhooks.signing import verify_wa_signature


def documented_check(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Exactly what the README tells receivers to compute."""
    expected = "sha256=" + hmac.new(secret.encode(), f"{headers['X-Wa-Timestamp']}.".encode() + body,
                                    hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v.strip()) for v in headers["X-Wa-Signature"].split(","))


@pytest.mark.django_db
def test_standard_webhooks_library_verifies_a_delivery(receiver, device) -> None:
    emit(device)
    deliver_all()
    [got] = receiver.requests
    payload = Webhook(SECRET.encode()).verify(got.body, got.headers)
    assert payload["event"] == "message"
    assert payload["payload"]["text"] == "hello 0"
    assert got.headers["Webhook-Id"] == got.headers["X-Wa-Request-Id"] == payload["request_id"]
    with pytest.raises(WebhookVerificationError):
        Webhook(b"another secret").verify(got.body, got.headers)


@pytest.mark.django_db
def test_documented_hmac_verifies_and_a_tampered_body_fails(receiver, device) -> None:
    emit(device)
    deliver_all()
    [got] = receiver.requests
    assert documented_check(SECRET, got.headers, got.body)
    assert verify_wa_signature(SECRET, got.headers, got.body)
    assert not documented_check(SECRET, got.headers, got.body.replace(b"hello", b"HELLO"))
    assert got.headers["X-Wa-Event"] == "message"
    assert got.headers["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_a_whsec_secret_is_used_as_its_decoded_bytes(receiver, device, hooked_app) -> None:
    secret = "whsec_" + base64.b64encode(b"raw key bytes").decode()
    update_app(hooked_app, webhook_secret=secret)
    hooked_app.webhook_secret_previous = ""  # no overlap in this test
    hooked_app.save()
    emit(device)
    deliver_all()
    [got] = receiver.requests
    Webhook(secret).verify(got.body, got.headers)


@pytest.mark.django_db
def test_rotated_secret_signs_alongside_the_new_one_until_the_overlap_ends(receiver, device, hooked_app,
                                                                          settings) -> None:
    settings.WEBHOOK_SECRET_OVERLAP_S = 3600
    update_app(hooked_app, webhook_secret="new-secret")
    emit(device)
    deliver_all()
    first = receiver.requests[-1]
    for secret in (SECRET, "new-secret"):
        Webhook(secret.encode()).verify(first.body, first.headers)
        assert documented_check(secret, first.headers, first.body)
    assert len(first.headers["X-Wa-Signature"].split(",")) == 2

    with time_machine.travel(timedelta(hours=2)):
        emit(device)
        deliver_all()
        later = receiver.requests[-1]
        Webhook(b"new-secret").verify(later.body, later.headers)
        assert documented_check("new-secret", later.headers, later.body)
        assert not documented_check(SECRET, later.headers, later.body)
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET.encode()).verify(later.body, later.headers)


@pytest.mark.django_db
def test_an_app_without_secret_gets_unsigned_deliveries_with_ids(receiver, device, hooked_app) -> None:
    update_app(hooked_app, webhook_secret="")
    emit(device)
    deliver_all()
    [got] = receiver.requests
    assert "X-Wa-Signature" not in got.headers
    assert "Webhook-Signature" not in got.headers
    assert got.headers["X-Wa-Request-Id"] == json.loads(got.body)["request_id"]
