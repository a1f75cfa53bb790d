"""Simulator faults: drops, refused reconnects, timeouts, rate limits, bans, temporary bans, remote
logouts, posting restrictions, server errors 479/463 and silently dead connections (§3, §4.3)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tests.support.simulator import ALICE, FALCON, OWNER, act, wait_until
from whatsapp.engine.base import (
    PERMANENT_REASONS,
    Connected,
    ConnectionLost,
    LoggedOut,
    MessageReceived,
    OutgoingMessage,
    TemporarilyBanned,
)
from whatsapp.engine.simulator import changes, network
from whatsapp.engine.simulator.models import NetworkRecord, PhoneAction, SimFault, SimSession
from whatsapp.engine.simulator.network import SimulationError
from whatsapp.errors import ErrorCode, WhatsAppError

pytestmark = pytest.mark.django_db(transaction=True)


def text(wa_id: str, to: str = ALICE) -> OutgoingMessage:
    return OutgoingMessage(wa_id=wa_id, to_jid=to, text="hello")


def refused(call) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as failure:
        call()
    return failure.value


def test_drop_loses_the_connection_until_connect(linked):
    engine, events = linked
    assert act(engine, "fault", {"kind": "drop"})["connect_attempts_to_drop"] == 0
    lost = events.wait_for(ConnectionLost)
    assert lost.error is ErrorCode.CONNECTION_LOST
    assert not engine.is_connected()
    assert engine.has_session()
    assert refused(lambda: engine.send(text("A"))).code is ErrorCode.MESSAGE_NOT_CONNECTED
    assert events.drain(0.1) == []  # no reconnect on its own: the runner decides
    engine.connect()
    events.wait_for(Connected)
    engine.send(text("B"))


def test_drop_with_a_count_makes_the_next_connects_fail_too(linked):
    engine, events = linked
    act(engine, "fault", {"kind": "drop", "count": 2})
    events.wait_for(ConnectionLost)
    for _ in range(2):
        engine.connect()
        assert "connect attempt" in events.wait_for(ConnectionLost).detail
        assert not engine.is_connected()
    engine.connect()
    events.wait_for(Connected)
    assert not SimFault.objects.exists()


def test_timeout_strikes_the_next_operations_after_a_delay(linked):
    engine, _ = linked
    network.store_fault(engine.device_id, "timeout", count=2, seconds=10)  # 10 WhatsApp s = 0.2 s here
    started = time.monotonic()
    assert refused(lambda: engine.send(text("T1"))).code is ErrorCode.CONNECTION_TIMEOUT
    assert time.monotonic() - started >= 0.2
    assert refused(lambda: engine.group_info(FALCON)).code is ErrorCode.CONNECTION_TIMEOUT
    engine.send(text("T1"))  # the same id goes through once the fault is spent
    assert NetworkRecord.objects.filter(wa_id="T1").count() == 1


def test_rate_limit_refuses_the_next_sends(linked):
    engine, _ = linked
    network.store_fault(engine.device_id, "rate-limit", count=2, seconds=100)  # 2 s at this time scale
    for wa_id in ("R1", "R2"):
        error = refused(lambda wa_id=wa_id: engine.send(text(wa_id)))
        assert error.code is ErrorCode.PROVIDER_RATE_LIMITED
        assert error.retry_after_s == 2
        assert "rate-overlimit" in error.message
    engine.send(text("R3"))
    assert list(NetworkRecord.objects.values_list("wa_id", flat=True)) == ["R3"]


def test_ban_logs_out_for_good_and_deletes_the_session(linked):
    engine, events = linked
    act(engine, "fault", {"kind": "ban"})
    logged_out = events.wait_for(LoggedOut)
    assert (logged_out.reason, logged_out.error) == ("banned", ErrorCode.AUTH_BANNED)
    assert not engine.is_connected()
    assert not engine.has_session()
    assert not SimSession.objects.exists()


def test_temp_ban_refuses_connects_until_it_expires(linked):
    engine, events = linked
    result = act(engine, "fault", {"kind": "temp-ban", "seconds": 40, "code": 104})  # 0.8 s here
    ban = events.wait_for(TemporarilyBanned)
    assert ban.expires_in_s == result["expires_in_s"] == 1
    assert ban.reason == "sent_too_many_same_message"
    assert not engine.is_connected()
    assert engine.has_session()
    engine.connect()
    assert events.wait_for(TemporarilyBanned).reason == "sent_too_many_same_message"
    until = datetime.fromisoformat(result["until"])
    wait_until(lambda: timezone.now() > until + timedelta(milliseconds=20), timeout=2)
    engine.connect()
    events.wait_for(Connected)


@pytest.mark.parametrize("reason", sorted(PERMANENT_REASONS))
def test_remote_logout_reasons_map_to_their_error_and_session_fate(linked, reason):
    engine, events = linked
    result = act(engine, "fault", {"kind": "logout", "reason": reason})
    logged_out = events.wait_for(LoggedOut)
    assert (logged_out.reason, logged_out.error) == (reason, PERMANENT_REASONS[reason])
    kept = reason in ("replaced", "client_outdated")  # StreamReplaced / ClientOutdated keep the store
    assert engine.has_session() is kept
    assert result["session_kept"] is kept
    assert not engine.is_connected()


def test_an_unknown_logout_reason_is_refused(linked):
    engine, _ = linked
    with pytest.raises(SimulationError, match="unknown logout reason"):
        act(engine, "fault", {"kind": "logout", "reason": "bored"})
    assert engine.is_connected()


def test_posting_restricted_hits_the_next_group_send_only(linked):
    engine, _ = linked
    network.store_fault(engine.device_id, "posting-restricted")
    engine.send(text("DM1"))  # DMs are not affected
    assert refused(lambda: engine.send(text("G1", FALCON))).code is ErrorCode.GROUP_POSTING_RESTRICTED
    engine.send(text("G2", FALCON))


@pytest.mark.parametrize(("kind", "code"), [("479", ErrorCode.MESSAGE_SEND_FAILED),
                                            ("463", ErrorCode.PROVIDER_RATE_LIMITED)])
def test_server_error_acks_map_to_their_error(linked, kind, code):
    engine, _ = linked
    network.store_fault(engine.device_id, kind)
    error = refused(lambda: engine.send(text("S1")))
    assert error.code is code
    assert error.details["server_error"] == int(kind)
    assert f"server returned error {kind}" in error.message
    engine.send(text("S1"))


def test_a_silent_connection_looks_up_but_fails_the_probe(sim):
    engine, events = sim.linked(scale=0.005)  # a send waits 75 WhatsApp s for its ack: 0.375 s here
    engine.probe(0.5)
    network.store_fault(engine.device_id, "silent")
    assert engine.is_connected()
    started = time.monotonic()
    error = refused(lambda: engine.probe(0.1))
    assert error.code is ErrorCode.HEALTH_CHECK_FAILED
    assert time.monotonic() - started >= 0.1
    assert act(engine, "message", {"from": ALICE, "text": "into the void"})["held"] is True
    assert refused(lambda: engine.send(text("Z"))).code is ErrorCode.CONNECTION_TIMEOUT
    # What the runner's heartbeat does: reconnect. The new socket is alive and gets what was held.
    engine.disconnect()
    engine.connect()
    events.wait_for(Connected)
    engine.probe(0.5)
    assert events.wait_for(MessageReceived).message.text == "into the void"


def test_stored_faults_survive_a_runner_restart(sim):
    first, _ = sim.linked()
    first.close()
    network.store_fault(first.device_id, "rate-limit")  # injected while no runner is up
    engine, events = sim.start(device_id=first.device_id, session_jid=OWNER)
    engine.connect()
    events.wait_for(Connected)
    assert refused(lambda: engine.send(text("AFTER"))).code is ErrorCode.PROVIDER_RATE_LIMITED
    engine.send(text("AFTER"))


def test_a_fault_stored_by_another_process_strikes_the_next_send(linked, monkeypatch):
    engine, _ = linked
    # As `simulate fault` in another process: nothing in this process tells the engine.
    monkeypatch.setattr(changes, "hosted", lambda device_id: False)
    monkeypatch.setattr(changes, "faults_changed", lambda device_id: None)
    network.store_fault(engine.device_id, "rate-limit")  # returns once the engine acknowledged it
    assert PhoneAction.objects.get(action=network.SYNC).result == {"synced": True}
    assert refused(lambda: engine.send(text("X1"))).code is ErrorCode.PROVIDER_RATE_LIMITED
    engine.send(text("X1"))
