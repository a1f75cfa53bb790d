"""The event log writes one delivery per subscribed app, in the event's own transaction."""

from __future__ import annotations

import pytest

from tests.factories import make_app, make_device
from tests.unit.webhooks.conftest import emit
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import DeviceEvent, WebhookDelivery
from whatsapp.webhooks.endpoints import endpoint_key, resolve_url


@pytest.mark.django_db
def test_every_event_gets_a_delivery_with_its_sequence() -> None:
    device = make_device(make_app(webhook_url="https://hooks.example.test/wa"))
    before = WebhookDelivery.objects.filter(device=device).count()  # creating a device emits no event
    events = emit(device, 3)
    rows = list(WebhookDelivery.objects.filter(device=device).order_by("sequence"))[before:]
    assert [(r.event_id, r.sequence, r.event_type, r.state) for r in rows] == [
        (e.pk, e.sequence, "message", "pending") for e in events]
    assert len({r.request_id for r in rows}) == 3


@pytest.mark.django_db
def test_an_app_without_webhook_url_gets_no_delivery_and_no_failure() -> None:
    device = make_device(make_app(webhook_url=""))
    emit(device, 2)
    assert not WebhookDelivery.objects.filter(device=device).exists()


@pytest.mark.django_db
def test_a_deactivated_app_gets_no_delivery() -> None:
    device = make_device(make_app(webhook_url="https://hooks.example.test/wa", is_active=False))
    emit(device)
    assert not WebhookDelivery.objects.filter(device=device).exists()


@pytest.mark.django_db
def test_the_event_filter_picks_the_events_delivered() -> None:
    device = make_device(make_app(webhook_url="https://hooks.example.test/wa", webhook_events=["receipt"]))
    DeviceEvent.append_many(device.pk, [("message", {}), ("receipt", {}), ("presence", {}), ("receipt", {})])
    assert list(WebhookDelivery.objects.filter(device=device).order_by("sequence")
                .values_list("event_type", flat=True)) == ["receipt", "receipt"]


@pytest.mark.django_db
def test_lifecycle_transitions_are_delivered_too() -> None:
    device = make_device(make_app(webhook_url="https://hooks.example.test/wa"))
    device.mark_connected("15550001111@s.whatsapp.net")
    assert WebhookDelivery.objects.filter(device=device, event_type="device_connected").count() == 1


@pytest.mark.django_db
def test_a_rolled_back_event_leaves_no_delivery() -> None:
    from django.db import transaction

    device = make_device(make_app(webhook_url="https://hooks.example.test/wa"))

    def emit_then_fail() -> None:
        with transaction.atomic():
            emit(device)
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        emit_then_fail()
    assert not WebhookDelivery.objects.filter(device=device).exists()


def test_relative_paths_join_the_base_url(settings) -> None:
    settings.WEBHOOK_BASE_URL = "https://crm.example.test/base/"
    assert resolve_url("/hooks/wa") == "https://crm.example.test/base/hooks/wa"
    assert resolve_url("https://elsewhere.example.test/h") == "https://elsewhere.example.test/h"


def test_a_relative_path_without_base_url_is_not_configured(settings) -> None:
    settings.WEBHOOK_BASE_URL = ""
    with pytest.raises(WhatsAppError) as caught:
        resolve_url("/hooks/wa")
    assert caught.value.code is ErrorCode.WEBHOOK_NOT_CONFIGURED
    with pytest.raises(WhatsAppError):
        resolve_url("")


def test_endpoint_keys_name_scheme_host_and_port() -> None:
    assert endpoint_key("https://Hooks.Example.test/a?b") == "https://hooks.example.test:443"
    assert endpoint_key("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080"
