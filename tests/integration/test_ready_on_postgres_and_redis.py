"""Readiness in the distributed topology, in-process, against the local PostgreSQL and Redis."""

import pytest
from django.db import connection
from django.test import Client

pytestmark = pytest.mark.django_db


def test_integration_tests_really_run_on_postgresql():
    assert connection.vendor == "postgresql"


def test_ready_is_ok_on_postgres_redis_broker_and_redis_channel_layer(settings):
    assert settings.GATEWAY_MODE == "distributed"
    body = Client().get("/ready").json()
    assert body["status"] == "ok", body
    assert body["checks"]["database"]["backend"] == "postgresql"
    assert body["checks"]["broker"]["backend"] == "redis"
    assert body["checks"]["channel_layer"]["backend"] == "RedisChannelLayer"
