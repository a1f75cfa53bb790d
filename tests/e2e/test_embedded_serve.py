"""`manage.py serve` on embedded defaults: a fresh data directory, no database or Redis server."""

import signal
import time

import httpx
import pytest

from tests.support.processes import PYTHON, ProcessGroup, clean_env, free_port, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def served(tmp_path):
    port = free_port()
    env = clean_env(DATA_DIR=str(tmp_path / "data"), DJANGO_SUPERUSER_USERNAME="operator",
                    DJANGO_SUPERUSER_PASSWORD="a-long-test-password", DJANGO_SUPERUSER_EMAIL="op@example.com")
    started = time.monotonic()
    group = ProcessGroup([PYTHON, "manage.py", "serve", "--port", str(port)], env, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 60, what="/health")
        yield base, group, time.monotonic() - started, tmp_path / "data"
    finally:
        group.stop()


def test_gateway_comes_up_with_health_ready_and_admin_within_60_s(served):
    base, _, startup_s, data_dir = served
    assert startup_s < 60
    assert httpx.get(f"{base}/health").text == "ok"

    ready = httpx.get(f"{base}/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["mode"] == "embedded"
    assert {name: check["status"] for name, check in body["checks"].items() if name != "background"} == {
        "database": "ok", "broker": "ok", "channel_layer": "ok"}
    assert body["checks"]["database"]["backend"] == "sqlite"

    login = httpx.get(f"{base}/admin/login/")
    assert login.status_code == 200
    assert "csrfmiddlewaretoken" in login.text
    assert httpx.get(f"{base}/static/admin/css/base.css").status_code == 200
    assert (data_dir / "gateway.sqlite3").exists()


def test_operator_from_environment_can_log_in(served):
    base, *_ = served
    with httpx.Client(base_url=base) as client:
        page = client.get("/admin/login/")
        token = client.cookies["csrftoken"]
        response = client.post("/admin/login/?next=/admin/", data={
            "username": "operator", "password": "a-long-test-password", "csrfmiddlewaretoken": token,
            "next": "/admin/"}, headers={"Referer": f"{base}/admin/login/"})
        assert page.status_code == 200
        assert response.status_code == 302, response.text[:500]
        assert client.get("/admin/").status_code == 200


def test_in_process_worker_runs_beat_scheduled_tasks(served):
    base, group, *_ = served
    check = wait_until(
        lambda: (c := httpx.get(f"{base}/ready").json()["checks"]["background"])["status"] == "ok" and c,
        45, interval=1, what="the beat heartbeat to be executed by the in-process worker",
    )
    assert check["age_s"] < 45
    assert "beat_heartbeat" in group.log()
    assert "succeeded" in group.log()


def test_sigterm_stops_everything_cleanly(served):
    base, group, *_ = served
    assert group.stop(signal.SIGTERM, timeout=20) == 0, group.log()[-3000:]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/health", timeout=1)
