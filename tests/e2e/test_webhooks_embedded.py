"""Webhooks on embedded defaults (SQLite, no Redis, in-process worker) with the simulator: an app set
up through the REST API receives the device's lifecycle and messages, signed, in sequence order, and
the delivery log says so."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest
from standardwebhooks import Webhook

from tests.support.processes import PROJECT_ROOT, PYTHON, ProcessGroup, clean_env, free_port, wait_until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.slow

SECRET = "embedded-webhook-secret"


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PYTHON, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout.strip()


def test_an_app_receives_its_devices_events_signed_and_in_order(tmp_path) -> None:
    receiver = WebhookReceiver().start()
    port = free_port()
    env = clean_env(DATA_DIR=str(tmp_path / "data"), WHATSAPP_ENGINE="simulator", SIMULATOR_TIME_SCALE="0.2",
                    ALLOW_PRIVATE_URLS="true")
    serve = ProcessGroup([PYTHON, "manage.py", "serve", "--port", str(port)], env, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 60, what="serve up")
        jwt = manage(env, "issue_jwt", "--tenant", "acme", "--create", "Acme")
        created = httpx.post(f"{base}/apps", headers={"Authorization": f"Bearer {jwt}"}, json={
            "name": "crm", "webhook_url": receiver.url, "webhook_secret": SECRET,
            "webhook_events": ["device_qr_generated", "device_connected", "message"]})
        assert created.status_code == 201, created.text
        token = created.json()["data"]["app_token"]
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

        device = api.post("/devices", json={"device_name": "support"}).json()["data"]
        device_id = device["device_id"]
        manage(env, "simulate", "scan", device_id, "--phone", "+15145550100")
        wait_until(lambda: api.get(f"/devices/{device_id}").json()["data"]["status"] == "connected", 30,
                   interval=0.5, what="connected")
        manage(env, "simulate", "message", device_id, "--from", "+15145550101", "--text", "Hi from Alice")

        def got(event: str) -> list[dict]:
            return [hit.json for hit in receiver.accepted() if hit.json["event"] == event]

        wait_until(lambda: got("message"), 30, interval=0.3, what="the message webhook")
    finally:
        assert serve.stop() == 0, serve.log()[-4000:]
        receiver.stop()

    hits = receiver.accepted()
    bodies = [Webhook(SECRET.encode()).verify(hit.body, hit.headers) for hit in hits]
    assert {body["event"] for body in bodies} == {"device_qr_generated", "device_connected", "message"}
    assert [b["sequence"] for b in bodies] == sorted(b["sequence"] for b in bodies)
    assert all(b["device_id"] == device_id and b["app_id"] == created.json()["data"]["app_id"] for b in bodies)
    [message] = [b["payload"] for b in bodies if b["event"] == "message"]
    assert message["text"] == "Hi from Alice"
    assert message["direction"] == "in"
    assert message["sender_phone_jid"] == "15145550101@s.whatsapp.net"
    assert message["sender_lid"]
    assert message["sender_lid"].endswith("@lid")
    assert all(hit.headers["X-WA-Event"] == json.loads(hit.body)["event"] for hit in hits)
