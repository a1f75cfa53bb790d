"""Approvals end to end: the simulator plays the recipient's phone, a real fleet runs the device's
runner, replies arrive through the engine, and a real beat + worker expire what nobody answers."""

from __future__ import annotations

import time

import pytest

from approvals.models import Approval
from approvals.services import request_approval
from tests.factories import make_app, make_approval, make_device
from tests.integration import test_fleet_runtime as runtime
from tests.integration.test_fleet_runtime import PEER, connected_device, simulate
from tests.support.processes import BIN, ProcessGroup, start_celery_worker, wait_until
from tests.support.webhook_receiver import WebhookReceiver
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import DeviceEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

gateway_env = runtime.gateway_env
fleet = runtime.fleet

ALICE_LID = "118207457280017@lid"


def decided(approval: Approval) -> str:
    approval.refresh_from_db()
    return approval.status


def test_a_reply_on_whatsapp_approves_and_one_from_the_lid_twin_denies(gateway_env, fleet) -> None:
    device = connected_device(gateway_env)
    first = request_approval(device, PEER, "Deploy v2", "to production", 300)
    [record] = [r for r in simulate(gateway_env, "sent", str(device.pk), "--kind", "send")
                if r["wa_id"] == first.request_wa_id]
    assert first.pk in record["payload"]["text"]
    assert "APPROVE" in record["payload"]["text"]

    simulate(gateway_env, "message", str(device.pk), "--from", PEER, "--text", "yes, ship it")
    wait_until(lambda: decided(first) == "approved", 20, what="the reply to approve")
    assert (first.decided_by, first.response_text) == ("reply", "yes, ship it")

    second = request_approval(device, PEER, "Drop the old table")
    simulate(gateway_env, "message", str(device.pk), "--from", ALICE_LID, "--text", f"❌ {second.pk}")
    wait_until(lambda: decided(second) == "denied", 20, what="the LID twin's reply to deny")
    resolved = DeviceEvent.objects.filter(device=device, type="approval_resolved").order_by("sequence")
    assert [(e.payload["request_id"], e.payload["status"]) for e in resolved] == [
        (first.pk, "approved"), (second.pk, "denied")]


def test_a_request_whatsapp_refuses_leaves_no_pending_approval(gateway_env, fleet) -> None:
    device = connected_device(gateway_env)
    simulate(gateway_env, "fault", str(device.pk), "rate-limit", "--count", "2")
    with pytest.raises(WhatsAppError) as caught:
        request_approval(device, PEER, "Deploy v2")
    assert caught.value.code is not ErrorCode.CONNECTION_TIMEOUT
    assert not Approval.objects.filter(device=device).exists()


def test_beat_expires_an_unanswered_approval_on_time_and_it_reaches_the_webhook(worker_env, tmp_path,
                                                                                settings) -> None:
    settings.ALLOW_PRIVATE_URLS = True
    receiver = WebhookReceiver().start()
    device = make_device(make_app(webhook_url=receiver.url))
    approval = make_approval(device, timeout_seconds=10)
    beat = ProcessGroup([str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO"], worker_env,
                        tmp_path / "beat.log")
    worker = start_celery_worker(worker_env, tmp_path, "approvals-worker")
    try:
        wait_until(lambda: decided(approval) == "expired", 30, what="beat to expire the approval")
        late_by = time.time() - approval.expires_at.timestamp()
        assert late_by < 10, f"expired {late_by:.1f} s after its deadline"
        assert approval.decided_by == "expiry"
        hit = wait_until(lambda: [h for h in receiver.accepted() if h.json["event"] == "approval_resolved"], 20,
                         what="the approval_resolved webhook")[0]
        assert (hit.json["payload"]["request_id"], hit.json["payload"]["status"]) == (approval.pk, "expired")
    finally:
        worker.stop()
        beat.stop()
        receiver.stop()
