"""The REST API on the distributed topology (web, worker, beat and fleet under honcho, PostgreSQL,
Redis, the simulator engine): a client written against wa-server's documented flow works unchanged,
and schemathesis finds no 5xx and no response that breaks the OpenAPI document."""

from __future__ import annotations

import base64
import io
import json
import subprocess

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.processes import PROJECT_ROOT, PYTHON, ProcessGroup, distributed_stack, wait_until

pytestmark = pytest.mark.slow


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PYTHON, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


class Gateway:
    def __init__(self, base: str, env: dict[str, str], jwt: str, token: str, processes: ProcessGroup) -> None:
        self.base, self.env, self.jwt, self.token, self.processes = base, env, jwt, token, processes
        self.http = httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"})
        self.device_id: str | None = None

    def linked_device(self) -> str:
        """A device linked by scanning its QR from the simulated phone (made once per module)."""
        if self.device_id is None:
            created = self.http.post("/devices", json={"device_name": "support"})
            assert created.status_code == 201, created.text
            device = created.json()["data"]
            assert device["status"] == "qr_generated"
            assert device["qr_image"].startswith("data:image/png;base64,")
            manage(self.env, "simulate", "scan", device["device_id"], "--phone", "+15145550100")
            wait_until(lambda: self.http.get(f"/devices/{device['device_id']}").json()["data"]["status"]
                       == "connected", 60, interval=0.5, what="device connected")
            self.device_id = device["device_id"]
        return self.device_id


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rest")
    with distributed_stack(tmp_path, ["web", "worker", "beat", "fleet"], WHATSAPP_ENGINE="simulator",
                           SIMULATOR_TIME_SCALE="0.2", ALLOW_PRIVATE_URLS="true", LOG_LEVEL="WARNING",
                           SEND_WAIT_SECONDS="15", MEDIA_ROOT=str(tmp_path / "media")) as stack:
        jwt = manage(stack.env, "issue_jwt", "--tenant", "acme", "--create", "Acme").strip()
        created = httpx.post(f"{stack.base}/apps", json={"name": "crm"}, headers={"Authorization": f"Bearer {jwt}"})
        assert created.status_code == 201, created.text
        yield Gateway(stack.base, stack.env, jwt, created.json()["data"]["app_token"], stack.processes)


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_wa_server_flow_works_unchanged(gateway):
    """create device → scan → send → list groups → download media, with wa-server's envelopes."""
    device_id = gateway.linked_device()
    http = gateway.http

    sent = http.post(f"/devices/{device_id}/messages", json={"to": "+15145550101", "type": "text", "text": "Hi"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["data"]["status"] == "sent"
    assert sent.json()["data"]["message_id"].startswith("3EB0")

    image = png_bytes()
    sent_image = http.post(f"/devices/{device_id}/messages", json={
        "to": "15145550101", "type": "image", "data_base64": base64.b64encode(image).decode(), "caption": "chart"})
    assert sent_image.status_code == 200, sent_image.text
    media_path = sent_image.json()["data"]["media_path"]
    assert media_path.startswith("media/")

    groups = http.get(f"/devices/{device_id}/groups")
    assert groups.status_code == 200, groups.text
    body = groups.json()["data"]
    assert body["count"] == len(body["groups"]) >= 1
    assert {"jid", "name", "subject", "participant_count", "is_announce"} <= set(body["groups"][0])

    download = http.get("/media", params={"path": media_path})
    assert download.status_code == 200, download.text
    assert download.content == image
    assert download.headers["Content-Type"] == "image/png"

    network = json.loads(manage(gateway.env, "simulate", "sent", device_id))
    assert any("Hi" in json.dumps(record) for record in network)

    missing = http.get(f"/devices/{device_id}/messages/nope")
    assert missing.json()["error"]["code"] in ("not_found", "method_not_allowed")
    unauthorized = httpx.get(f"{gateway.base}/devices", headers={"Authorization": "Bearer wag_wrong"})
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "invalid_api_key"
    assert unauthorized.json()["request_id"] == unauthorized.headers["X-Request-ID"]


# --- schemathesis -----------------------------------------------------------------------------------

# Operations that would end the shared device's session are exercised on random (absent) devices only.
EXAMPLES = 20  # per operation; about 40 operations stay within a minute or two
DESTRUCTIVE = {("DELETE", "/devices/{device_id}"), ("POST", "/devices/{device_id}/disconnect"),
               ("POST", "/devices/{device_id}/qr"), ("POST", "/devices/{device_id}/pair-code")}


def exercise(case, gateway) -> None:
    """One generated request, with the right credentials, validated against the document."""
    if case.path.startswith("/apps"):
        token = gateway.jwt
    else:
        token = gateway.token
        if "device_id" in (case.path_parameters or {}) and (case.method.upper(), case.path) not in DESTRUCTIVE:
            case.path_parameters["device_id"] = gateway.linked_device()
    headers = {"Authorization": f"Bearer {token}", "Prefer": "respond-async"}
    case.call_and_validate(base_url=gateway.base, headers=headers, timeout=60, checks=[
        not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
        negative_data_rejection])


def test_the_api_honours_its_openapi_document(gateway):
    """Every operation of ``/openapi.json``, with generated valid and invalid inputs: no 5xx, every
    status documented, every body as its schema says, invalid input refused."""
    gateway.linked_device()
    schema = schemathesis.openapi.from_url(f"{gateway.base}/openapi.json")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        @given(case=operation.as_strategy())
        def run(case) -> None:
            exercise(case, gateway)

        try:
            run()
        except BaseException as failure:  # schemathesis raises BaseExceptionGroups; report every operation
            failures[operation.label] = f"{type(failure).__name__}: {str(failure)[:1500]}"
    tracebacks = gateway.processes.log().split("unhandled error on ")[1:]
    assert not failures, "\n\n".join([*(f"{label}\n{text}" for label, text in failures.items()),
                                       *(chunk[:3000] for chunk in tracebacks[:5])])
