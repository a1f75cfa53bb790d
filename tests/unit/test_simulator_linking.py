"""Simulator linking: the QR window (timings, format, rotation, expiry), scans, pairing codes, and
resuming a stored session (whatsapp-behaviour.md §1, §3)."""

from __future__ import annotations

import base64
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.simulator import OWNER, act, wait_until
from whatsapp.engine.base import Connected, Paired, QRCodeIssued, QRWindowClosed
from whatsapp.engine.simulator.linking import PAIR_ALPHABET
from whatsapp.engine.simulator.models import SimDeviceState, SimSession, WorldGroup
from whatsapp.engine.simulator.network import SimulationError
from whatsapp.errors import ErrorCode, WhatsAppError

pytestmark = pytest.mark.django_db(transaction=True)

QR_FORMAT = re.compile(r"^https://wa\.me/settings/linked_devices#(2@[^,]+),([^,]{44}),([^,]{44}),([^,]{44}),(\w)$")


def test_the_qr_window_shows_six_codes_60_then_20_seconds_each_and_closes_at_160(sim):
    scale = 0.02
    engine, events = sim.start(scale=scale)
    started = time.monotonic()
    engine.connect()
    issued = [events.wait_for_timed(QRCodeIssued) for _ in range(6)]
    closed_at, _ = events.wait_for_timed(QRWindowClosed)

    codes = [event for _, event in issued]
    assert [event.valid_for_s for event in codes] == pytest.approx([60 * scale] + [20 * scale] * 5)
    offsets = [at - started for at, _ in issued] + [closed_at - started]
    # Each code shows for its lifetime: 0, 60, 80, … 160 WhatsApp seconds (scheduler jitter allowed).
    expected = [0, 60, 80, 100, 120, 140, 160]
    for offset, want in zip(offsets, expected, strict=True):
        assert offset == pytest.approx(want * scale, abs=0.15)
    first_end = codes[0].window_ends_at
    assert abs((first_end - timezone.now()).total_seconds()) < 0.3  # the window ends now, as announced
    assert all(abs((c.window_ends_at - first_end).total_seconds()) < 0.15 for c in codes)
    assert not engine.is_connected()
    assert SimDeviceState.objects.get(device_id=engine.device_id).linking is False
    assert events.drain(0.1) == []  # nothing after the window closed: no new QR, no reconnect


def test_qr_codes_use_the_current_format_with_a_fresh_ref_per_rotation(sim):
    engine, events = sim.start()
    engine.connect()
    first = events.wait_for(QRCodeIssued)
    act(engine, "rotate-qr")
    second = events.wait_for(QRCodeIssued)
    parts = [QR_FORMAT.match(event.code) for event in (first, second)]
    assert all(parts), (first.code, second.code)
    for match in parts:
        for key in match.groups()[1:4]:
            assert len(base64.b64decode(key, validate=True)) == 32
        assert match.group(5) in "0123456789ce"
    assert parts[0].group(1) != parts[1].group(1)  # a new server ref
    assert first.code != second.code


def test_rotate_qr_jumps_to_the_next_code_now_and_shortens_the_window(sim):
    engine, events = sim.start(scale=0.05)  # first code would show 3 s
    engine.connect()
    first = events.wait_for(QRCodeIssued)
    result = act(engine, "rotate-qr")
    second = events.wait_for(QRCodeIssued, timeout=0.5)
    assert result["qr_code"] == second.code
    assert result["index"] == 2
    assert second.valid_for_s == pytest.approx(20 * 0.05)
    # Four codes of 20 s remain after this one: the window now ends 100 WhatsApp seconds from now.
    assert second.window_ends_at < first.window_ends_at
    remaining = (second.window_ends_at - timezone.now()).total_seconds()
    assert remaining == pytest.approx(100 * 0.05, abs=0.3)
    assert SimDeviceState.objects.get(device_id=engine.device_id).qr_code == second.code


def test_expire_qr_closes_the_window_now(sim):
    engine, events = sim.start(scale=1.0)  # real time: only the phone can end it within the test
    engine.connect()
    events.wait_for(QRCodeIssued)
    assert act(engine, "expire-qr") == {"window_closed": True}
    events.wait_for(QRWindowClosed, timeout=1)
    with pytest.raises(SimulationError, match="no QR code on screen"):
        act(engine, "scan")


def test_scan_links_the_device_and_stores_the_session(sim):
    engine, events = sim.start()
    engine.connect()
    events.wait_for(QRCodeIssued)
    result = act(engine, "scan", {"phone": "+1 514 555 0100", "name": "Owner"})
    paired = events.wait_for(Paired)
    connected = events.wait_for(Connected)

    assert paired.phone_jid == connected.phone_jid == OWNER == result["phone_jid"]
    assert paired.lid.endswith("@lid")
    assert connected.lid == paired.lid
    assert connected.push_name == "Owner"
    assert engine.is_connected()
    assert engine.has_session()
    session = SimSession.objects.get(device_id=engine.device_id)
    assert (session.phone_jid, session.lid) == (OWNER, paired.lid)
    # The account joins the fixture groups every linked account belongs to.
    assert WorldGroup.objects.get(name="Project Falcon").role_of(OWNER) == "admin"
    engine.probe(1.0)


def test_a_stored_session_reconnects_without_a_qr(sim):
    first, events = sim.linked()
    first.close()
    engine, events = sim.start(device_id=first.device_id, session_jid=OWNER)
    assert engine.has_session()
    engine.connect()
    connected = events.wait_for(Connected)
    assert connected.phone_jid == OWNER
    assert not any(isinstance(e, QRCodeIssued) for e in events.drain(0.1))


def test_scan_without_a_qr_on_screen_fails(sim):
    engine, _ = sim.start()
    with pytest.raises(SimulationError) as failure:
        act(engine, "scan")
    assert "no QR code on screen" in failure.value.body["error"]["message"]
    assert not SimSession.objects.exists()


def test_scanning_a_code_that_rotated_away_fails(sim):
    engine, events = sim.start()
    engine.connect()
    old = events.wait_for(QRCodeIssued)
    act(engine, "rotate-qr")
    events.wait_for(QRCodeIssued)
    with pytest.raises(SimulationError, match="no longer on screen"):
        act(engine, "scan", {"code": old.code})
    assert not engine.has_session()


def test_pairing_code_links_the_phone_it_was_requested_for(sim):
    engine, events = sim.start()
    engine.connect()
    events.wait_for(QRCodeIssued)
    code = engine.pair_phone("+44 7700 900999")
    assert re.fullmatch(f"[{PAIR_ALPHABET}]{{4}}-[{PAIR_ALPHABET}]{{4}}", code)
    assert SimDeviceState.objects.get(device_id=engine.device_id).pairing_code == code.replace("-", "")

    with pytest.raises(SimulationError) as wrong:
        act(engine, "enter-code", {"code": "AAAA-AAAA" if code != "AAAA-AAAA" else "BBBB-BBBB"})
    assert wrong.value.body["error"]["name"] == ErrorCode.AUTH_PAIRING_FAILED.code
    assert not engine.has_session()

    act(engine, "enter-code", {"code": code.lower().replace("-", "")})
    paired = events.wait_for(Paired)
    assert paired.phone_jid == "447700900999@s.whatsapp.net"
    events.wait_for(Connected)
    assert engine.is_connected()


@pytest.mark.parametrize("number", ["12345", "0447700900123", "+"])
def test_pair_phone_refuses_numbers_whatsmeow_refuses(sim, number):
    engine, events = sim.start()
    engine.connect()
    events.wait_for(QRCodeIssued)
    with pytest.raises(WhatsAppError) as failure:
        engine.pair_phone(number)
    assert failure.value.code is ErrorCode.AUTH_PAIRING_FAILED


def test_pair_phone_needs_a_linking_connection(sim):
    engine, _ = sim.start()
    with pytest.raises(WhatsAppError) as failure:
        engine.pair_phone("15145550100")
    assert failure.value.code is ErrorCode.AUTH_PAIRING_FAILED
    assert failure.value.details["reason"] == "not_linking"


def test_the_pairing_code_dies_with_the_window(sim):
    engine, events = sim.start()
    engine.connect()
    events.wait_for(QRCodeIssued)
    code = engine.pair_phone("15145550100")
    act(engine, "expire-qr")
    with pytest.raises(SimulationError) as failure:
        act(engine, "enter-code", {"code": code})
    assert failure.value.body["error"]["name"] == ErrorCode.AUTH_PAIRING_FAILED.code


def test_disconnect_keeps_the_session_and_logout_deletes_it_without_events(sim):
    engine, events = sim.linked()
    engine.disconnect()
    assert not engine.is_connected()
    assert engine.has_session()
    engine.connect()
    events.wait_for(Connected)
    engine.logout()
    assert not engine.is_connected()
    assert not engine.has_session()
    assert events.drain(0.1) == []  # whatsmeow reports no event for our own logout
    engine.connect()  # no keys left: linking starts again
    events.wait_for(QRCodeIssued)


def test_connected_arrives_after_a_delay_and_not_after_a_disconnect(sim):
    engine, events = sim.linked(scale=0.2)  # resuming takes 0.5 WhatsApp s = 0.1 s here
    engine.disconnect()
    engine.connect()
    engine.disconnect()  # before Connected arrived: it must never arrive
    assert events.drain(0.3) == []
    assert not engine.is_connected()
    wait_until(lambda: not SimDeviceState.objects.get(device_id=engine.device_id).connected)


def test_the_window_end_is_published_for_the_phone(sim):
    engine, events = sim.start()
    engine.connect()
    issued = events.wait_for(QRCodeIssued)
    state = SimDeviceState.objects.get(device_id=engine.device_id)
    assert state.qr_code == issued.code
    assert state.linking
    assert abs(state.window_ends_at - issued.window_ends_at) < timedelta(milliseconds=1)
