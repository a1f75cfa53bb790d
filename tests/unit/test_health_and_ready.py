"""/health is wa-server's plain liveness probe; /ready checks every dependency and names failures."""

import pytest
from django.test import Client

from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_health_is_plain_ok():
    response = Client().get("/health")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Content-Type"].startswith("text/plain")


def test_ready_in_embedded_mode_reports_each_dependency():
    response = Client().get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["mode"] == "embedded"
    assert set(body["checks"]) >= {"database", "broker", "channel_layer", "background"}
    for name in ("database", "broker", "channel_layer"):
        assert body["checks"][name]["status"] == "ok", body
    assert body["checks"]["database"]["backend"] == "sqlite"
    assert body["checks"]["channel_layer"]["backend"] == "InMemoryChannelLayer"


def test_unreachable_broker_makes_ready_503_naming_it(monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://:secret@127.0.0.1:1/0")
    response = Client().get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"]["status"] == "error"
    assert "secret" not in response.content.decode()
    assert response["Retry-After"]


def test_unreachable_channel_layer_makes_ready_503(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    response = Client().get("/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["channel_layer"]


def test_background_heartbeat_is_informational():
    from whatsapp.models import ProcessHeartbeat
    from whatsapp.readiness import HEARTBEAT_ROLE
    from whatsapp.tasks import beat_heartbeat

    assert Client().get("/ready").json()["checks"]["background"]["status"] == "unknown"
    beat_heartbeat()  # what the worker runs when beat schedules it
    assert ProcessHeartbeat.objects.get(role=HEARTBEAT_ROLE)
    check = Client().get("/ready").json()["checks"]["background"]
    assert check["status"] == "ok"
    assert check["age_s"] < 5
