"""The Procfile under honcho: web (daphne), worker and beat on PostgreSQL and Redis, as in production.

A private Redis server is used so the test can stop it and watch readiness name the broker.
"""

import httpx
import pytest

from tests.support.processes import distributed_stack, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def topology(tmp_path):
    with distributed_stack(tmp_path, ["web", "worker", "beat"]) as stack:
        yield stack.base, stack.processes, stack.redis


def test_ready_reports_postgres_and_redis_and_names_the_broker_when_redis_stops(topology):
    base, _, redis = topology

    body = wait_until(lambda: (r := httpx.get(f"{base}/ready", timeout=10)).status_code == 200 and r.json(), 30,
                      what="/ready 200")
    assert body["mode"] == "distributed"
    assert body["checks"]["database"] == {**body["checks"]["database"], "status": "ok", "backend": "postgresql"}
    assert body["checks"]["broker"]["status"] == "ok"
    assert body["checks"]["broker"]["backend"] == "redis"
    assert body["checks"]["channel_layer"] == {**body["checks"]["channel_layer"], "status": "ok",
                                              "backend": "RedisChannelLayer"}

    # beat (its own process) schedules the heartbeat over Redis, the worker runs it against PostgreSQL.
    wait_until(lambda: httpx.get(f"{base}/ready", timeout=10).json()["checks"]["background"]["status"] == "ok",
               60, interval=1, what="beat -> worker heartbeat")

    redis.stop()
    down = wait_until(lambda: (r := httpx.get(f"{base}/ready", timeout=10)).status_code == 503 and r, 20,
                      what="/ready 503 after Redis stopped")
    body = down.json()
    assert "broker" in body["failing"]
    assert "channel_layer" in body["failing"]
    assert body["checks"]["database"]["status"] == "ok"
    assert down.headers["Retry-After"]
    assert httpx.get(f"{base}/health").text == "ok"  # liveness does not depend on Redis
