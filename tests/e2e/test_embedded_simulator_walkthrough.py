"""What a person trying the product does, on embedded defaults with the simulator (issue 3's
"done when"): serve, create a device, scan its QR from the "phone", send, receive."""

import json
import subprocess

import httpx
import pytest

from tests.support.processes import PROJECT_ROOT, PYTHON, ProcessGroup, clean_env, free_port, wait_until

pytestmark = pytest.mark.slow


def run(env, *args):
    done = subprocess.run([PYTHON, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def test_create_scan_send_and_receive_on_embedded_defaults(tmp_path):
    port = free_port()
    env = clean_env(DATA_DIR=str(tmp_path / "data"), WHATSAPP_ENGINE="simulator", SIMULATOR_TIME_SCALE="0.2")
    serve = ProcessGroup([PYTHON, "manage.py", "serve", "--port", str(port)], env, tmp_path / "serve.log")
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200, 60,
                   what="serve up")
        device = run(env, "device", "create", "support")
        assert device["status"] == "qr_generated"
        assert device["qr_code"].startswith("https://wa.me/settings/linked_devices#")

        run(env, "simulate", "scan", "support", "--phone", "+15145550100")
        wait_until(lambda: run(env, "device", "show", "support")["status"] == "connected", 30, interval=0.5,
                   what="connected")

        sent = run(env, "device", "send", "support", "--to", "+15145550101", "--text", "Hello from the walkthrough")
        assert sent["status"] == "sent"
        network = run(env, "simulate", "sent", "support")
        assert any("Hello from the walkthrough" in json.dumps(record) for record in network)

        run(env, "simulate", "message", "support", "--from", "+15145550101", "--text", "Hi there")
        wait_until(lambda: any(m["text"] == "Hi there" for m in run(env, "device", "messages", "support")), 30,
                   interval=0.5, what="inbound stored")
    finally:
        assert serve.stop() == 0, serve.log()[-4000:]
