"""The admin's webhook pages: the delivery log (list, filters, search, read-only inspection page with
attempts and envelope), the redeliver action (successes and enum errors as messages, never a 500),
and the per-app delivery counts on the app list (one grouped query for the page)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import make_app, make_device
from whatsapp.models import App, DeliveryState, Device, DeviceEvent, WebhookAttempt, WebhookDelivery

URL = "https://hooks.example.test/wa"
CHANGELIST = reverse("admin:whatsapp_webhookdelivery_changelist")
APPS = reverse("admin:whatsapp_app_changelist")


def change_url(delivery: WebhookDelivery) -> str:
    return reverse("admin:whatsapp_webhookdelivery_change", args=[delivery.pk])


def deliver(device: Device, event: str = "message", state: str = DeliveryState.PENDING) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.get(event=DeviceEvent.append(device.pk, event, {"text": "hi"}))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=state)
    delivery.refresh_from_db()
    return delivery


def notes(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def device(db) -> Device:
    return make_device(make_app(name="billing", webhook_url=URL))


@pytest.mark.django_db
def test_the_changelist_shows_the_log_and_filters_it(admin_client, device) -> None:
    dead = deliver(device, "receipt", DeliveryState.DEAD)
    WebhookDelivery.objects.filter(pk=dead.pk).update(last_status_code=503, last_error_code="WEBHOOK_DELIVERY_FAILED")
    deliver(device, "message", DeliveryState.SUCCEEDED)
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert all(text in page for text in ("receipt", "WEBHOOK_DELIVERY_FAILED", "503", device.name, "billing"))
    assert "Redeliver selected deliveries" in page
    assert list(admin_client.get(CHANGELIST, {"state__exact": "dead"}).context["cl"].result_list) == [dead]
    assert list(admin_client.get(CHANGELIST, {"event_type": "receipt"}).context["cl"].result_list) == [dead]
    by_app = admin_client.get(CHANGELIST, {"app__id__exact": str(device.app_id)}).context["cl"].result_list
    assert len(by_app) == 2
    found = admin_client.get(CHANGELIST, {"q": str(dead.request_id)}).context["cl"].result_list
    assert list(found) == [dead]


@pytest.mark.django_db
def test_the_change_page_is_an_inspection_view(admin_client, device) -> None:
    delivery = deliver(device, state=DeliveryState.FAILED)
    WebhookAttempt.objects.create(delivery=delivery, number=1, url=URL, status_code=500,
                                  error_code="WEBHOOK_DELIVERY_FAILED", response_body="x" * 5000)
    response = admin_client.get(change_url(delivery))
    assert response.status_code == 200
    page = response.content.decode()
    assert str(delivery.request_id) in page  # the envelope
    assert "&quot;payload&quot;" in page
    assert "x" * 150 in page  # the response body, truncated
    assert "x" * 5000 not in page
    assert 'name="_save"' not in page  # nothing to save
    assert "Redeliver now" in page
    assert f'formaction="{CHANGELIST}" name="action" value="redeliver"' in page
    assert f'name="_selected_action" value="{delivery.pk}"' in page
    assert admin_client.get(reverse("admin:whatsapp_webhookdelivery_add")).status_code == 403
    assert admin_client.post(change_url(delivery), {"state": "succeeded"}).status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED


@pytest.mark.django_db
def test_the_redeliver_action(admin_client, device) -> None:
    dead = deliver(device, state=DeliveryState.DEAD)
    done = deliver(device, state=DeliveryState.SUCCEEDED)
    untouched = deliver(device, state=DeliveryState.DEAD)
    response = admin_client.post(CHANGELIST, {"action": "redeliver", "_selected_action": [dead.pk, done.pk],
                                              "index": 0})
    assert response.status_code == 302
    assert notes(response) == [("success", "2 deliveries queued for redelivery.")]
    for delivery in (dead, done):
        delivery.refresh_from_db()
        assert (delivery.state, delivery.replays) == (DeliveryState.PENDING, 1)
    untouched.refresh_from_db()
    assert (untouched.state, untouched.replays) == (DeliveryState.DEAD, 0)


@pytest.mark.django_db
def test_an_app_without_a_webhook_url_is_an_error_message(admin_client, device) -> None:
    fine = deliver(device, state=DeliveryState.DEAD)
    orphan_app = make_app(name="nowhere", webhook_url=URL)
    orphan = deliver(make_device(orphan_app), state=DeliveryState.DEAD)
    App.objects.filter(pk=orphan_app.pk).update(webhook_url="")
    response = admin_client.post(CHANGELIST, {"action": "redeliver", "_selected_action": [fine.pk, orphan.pk],
                                              "index": 0})
    assert response.status_code == 302
    (ok, (level, text)) = notes(response)
    assert ok == ("success", "1 delivery queued for redelivery.")
    assert level == "error"
    assert text.startswith(f"1 delivery of app {orphan_app} not redelivered — WEBHOOK_NOT_CONFIGURED: The app "
                           "has no webhook URL. Set the app's webhook_url")
    orphan.refresh_from_db()
    assert (orphan.state, orphan.replays) == (DeliveryState.DEAD, 0)
    assert admin_client.get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_the_change_pages_button_redelivers_and_comes_back(admin_client, device) -> None:
    delivery = deliver(device, state=DeliveryState.DEAD)
    # What the button submits: the change form's fields, posted to the changelist's action.
    response = admin_client.post(CHANGELIST, {"action": "redeliver", "_selected_action": delivery.pk,
                                              "_back_to_change": "1"})
    assert (response.status_code, response["Location"]) == (302, change_url(delivery))
    assert notes(response) == [("success", "1 delivery queued for redelivery.")]
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING


@pytest.mark.django_db
def test_staff_without_the_change_permission_cannot_redeliver(client, django_user_model, device) -> None:
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client.force_login(viewer)
    delivery = deliver(device, state=DeliveryState.DEAD)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "Redeliver selected deliveries" not in page.content.decode()
    assert "Redeliver now" not in client.get(change_url(delivery)).content.decode()
    client.post(CHANGELIST, {"action": "redeliver", "_selected_action": delivery.pk, "index": 0})
    delivery.refresh_from_db()
    assert (delivery.state, delivery.replays) == (DeliveryState.DEAD, 0)


@pytest.mark.django_db
def test_the_app_list_shows_delivery_counts(admin_client, device) -> None:
    for state, n in ((DeliveryState.PENDING, 2), (DeliveryState.FAILED, 1), (DeliveryState.DEAD, 3),
                     (DeliveryState.SUCCEEDED, 4)):
        for _ in range(n):
            deliver(device, state=state)
    response = admin_client.get(APPS)
    assert response.status_code == 200
    page = response.content.decode()
    assert all(header in page for header in ("Pending deliveries", "Failed deliveries", "Dead deliveries"))
    for state, n in (("pending", 2), ("failed", 1), ("dead", 3)):
        assert f"app__id__exact={device.app_id}&amp;state__exact={state}\">{n}</a>" in page


def queries_to_show(client, url: str) -> int:
    """How many queries rendering the admin page ``url`` costs."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.django_db
def test_the_app_list_counts_in_one_query_for_the_page(admin_client) -> None:
    deliver(make_device(make_app(webhook_url=URL)), state=DeliveryState.DEAD)
    few = queries_to_show(admin_client, APPS)
    for _ in range(4):
        deliver(make_device(make_app(webhook_url=URL)), state=DeliveryState.FAILED)
    assert queries_to_show(admin_client, APPS) == few


@pytest.mark.django_db
def test_the_delivery_list_costs_the_same_whatever_it_shows(admin_client) -> None:
    deliver(make_device(make_app(webhook_url=URL)), state=DeliveryState.DEAD)
    few = queries_to_show(admin_client, CHANGELIST)
    for _ in range(4):
        device = make_device(make_app(webhook_url=URL))
        deliver(device, state=DeliveryState.FAILED)
        deliver(device, "receipt")
    assert queries_to_show(admin_client, CHANGELIST) == few
