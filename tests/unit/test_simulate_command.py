"""``manage.py simulate``: subcommands drive a running engine through the database, print JSON, and
fail with JSON on stderr and a non-zero exit code."""

from __future__ import annotations

import hashlib
import io
import json
import time

import pytest
from django.core.management import call_command

from tests.factories import make_app, make_device
from tests.support.simulator import ALICE, FALCON, OWNER
from whatsapp.engine.base import (
    Connected,
    ConnectionLost,
    MessageReceived,
    OutgoingMessage,
    Paired,
    QRCodeIssued,
)
from whatsapp.engine.simulator.models import PhoneAction, SimFault, WorldContact, WorldGroup
from whatsapp.engine.simulator.network import SimulationError
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.management.commands.simulate import Command

pytestmark = pytest.mark.django_db(transaction=True)


def simulate(*args: str) -> object:
    out = io.StringIO()
    call_command("simulate", *args, stdout=out)
    return json.loads(out.getvalue())


def run_cli(*args: str) -> tuple[int, str, str]:
    """The command as the shell runs it: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    command = Command(stdout=out, stderr=err)
    try:
        command.run_from_argv(["manage.py", "simulate", *args])
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_scan_by_device_name_links_the_running_engine(sim):
    device = make_device(name="front-desk")
    engine, events = sim.start(device_id=str(device.pk))
    engine.connect()
    events.wait_for(QRCodeIssued)
    result = simulate("scan", "front-desk", "--phone", "+15145550100", "--name", "Desk")
    assert result["phone_jid"] == OWNER
    assert result["push_name"] == "Desk"
    assert events.wait_for(Paired).phone_jid == OWNER
    events.wait_for(Connected)
    status = simulate("status", "front-desk")
    assert status["session"]["phone_jid"] == OWNER
    assert status["state"]["connected"] is True
    assert status["pending_actions"] == []


def test_an_ambiguous_or_unknown_device_name_is_an_error():
    first, second = make_device(make_app(), "twin"), make_device(make_app(), "twin")
    with pytest.raises(SimulationError) as ambiguous:
        simulate("status", "twin")
    assert set(ambiguous.value.body["error"]["details"]["candidates"]) == {str(first.pk), str(second.pk)}
    with pytest.raises(SimulationError, match="no device named"):
        simulate("status", "nobody")


def test_without_a_running_engine_the_action_times_out_and_is_cancelled():
    device = make_device()
    started = time.monotonic()
    code, out, err = run_cli("scan", str(device.pk), "--timeout", "0.3")
    assert code == 3
    assert out == ""
    assert time.monotonic() - started < 3
    assert "no engine handled 'scan'" in json.loads(err)["error"]["message"]
    action = PhoneAction.objects.get()
    assert action.handled_at is not None
    assert action.claimed_at is None


def test_a_refused_action_prints_the_error_envelope_on_stderr(sim):
    engine, events = sim.start()
    engine.connect()
    events.wait_for(QRCodeIssued)
    engine.pair_phone("15145550100")
    code, out, err = run_cli("enter-code", engine.device_id, "ZZZZ-ZZZZ")
    body = json.loads(err)
    assert code == 1
    assert out == ""
    assert body["error"]["name"] == ErrorCode.AUTH_PAIRING_FAILED.code
    assert body["request_id"] is None


def test_message_with_a_file_reaches_the_engine_with_downloadable_bytes(sim, tmp_path):
    engine, events = sim.linked()
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"meow" * 300)
    result = simulate("message", engine.device_id, "--from", "+15145550101", "--kind", "image", "--file",
                      str(picture), "--text", "my cat", "--lid")
    message = events.wait_for(MessageReceived).message
    assert result["wa_id"] == message.wa_id
    assert message.sender_lid == result["sender_lid"]
    assert message.sender_jid.endswith("@lid")
    assert message.sender_phone_jid == ALICE
    assert message.media.mime_type == "image/png"
    assert message.media.file_name == "cat.png"
    assert engine.download_media(message.media) == picture.read_bytes()
    assert message.media.sha256 == hashlib.sha256(picture.read_bytes()).hexdigest()


def test_other_message_kinds_from_the_command(sim):
    engine, events = sim.linked()
    simulate("message", engine.device_id, "--from", "+15145550101", "--kind", "location", "--lat", "45.5",
             "--lon", "-73.57", "--place", "Office")
    simulate("message", engine.device_id, "--from", "+447700900123", "--group", FALCON, "--kind", "poll",
             "--text", "Ship?", "--option", "yes", "--option", "no")
    location = events.wait_for(MessageReceived).message
    poll = events.wait_for(MessageReceived).message
    assert location.content == {"latitude": 45.5, "longitude": -73.57, "address": "", "name": "Office"}
    assert poll.chat_jid == FALCON
    assert poll.content["options"] == ["yes", "no"]
    with pytest.raises(SimulationError, match="--from"):
        simulate("message", engine.device_id, "--text", "from nobody")


def test_sent_prints_what_the_network_received(sim):
    engine, _ = sim.linked()
    engine.send(OutgoingMessage(wa_id="S1", to_jid=ALICE, text="one"))
    engine.react(ALICE, "S1", OWNER, "👍", wa_id="S2")
    engine.send(OutgoingMessage(wa_id="S3", to_jid=ALICE, text="three"))
    everything = simulate("sent", engine.device_id)
    assert [(r["kind"], r["wa_id"]) for r in everything] == [("send", "S1"), ("reaction", "S2"), ("send", "S3")]
    assert everything[0]["payload"]["text"] == "one"
    sends = simulate("sent", engine.device_id, "--kind", "send", "--since", str(everything[0]["id"]))
    assert [r["wa_id"] for r in sends] == ["S3"]


def test_faults_from_the_command(sim):
    engine, events = sim.linked()
    stored = simulate("fault", engine.device_id, "rate-limit", "--count", "2")
    assert stored["stored"]["remaining"] == 2
    assert SimFault.objects.get().kind == "rate-limit"
    with pytest.raises(WhatsAppError) as failure:
        engine.send(OutgoingMessage(wa_id="F1", to_jid=ALICE, text="x"))
    assert failure.value.code is ErrorCode.PROVIDER_RATE_LIMITED
    assert simulate("fault", engine.device_id, "drop")["fault"] == "drop"
    events.wait_for(ConnectionLost)
    assert not engine.is_connected()


def test_stored_faults_need_no_running_engine():
    device = make_device()
    code, out, _ = run_cli("fault", str(device.pk), "timeout", "--seconds", "5")
    assert code == 0
    assert json.loads(out)["stored"]["seconds"] == 5
    assert SimFault.objects.get(device_id=device.pk).kind == "timeout"


def test_world_add_contact_and_add_group(sim):
    world = simulate("world")
    assert len(world["contacts"]) >= 8
    assert {g["name"] for g in world["groups"]} >= {"Family", "Neighbourhood News"}
    assert sum(not c["on_whatsapp"] for c in world["contacts"]) >= 2
    assert any(g["is_announce"] for g in world["groups"])

    contact = simulate("add-contact", "--phone", "+33 7 00 00 00 01", "--name", "Zoé", "--lid", "auto")
    assert contact["phone_jid"] == "33700000001@s.whatsapp.net"
    assert contact["lid"].endswith("@lid")
    assert WorldContact.objects.get(phone_jid="33700000001@s.whatsapp.net").name == "Zoé"

    engine, _ = sim.linked()
    group = simulate("add-group", "--name", "Climbing", "--participant", "+33700000001,+15145550101",
                     "--with-device", engine.device_id, "--device-role", "admin", "--announce")
    row = WorldGroup.objects.get(jid=group["jid"])
    assert row.role_of("33700000001@s.whatsapp.net") == "superadmin"
    assert row.role_of(OWNER) == "admin"
    assert row.is_announce
    assert engine.group_info(group["jid"]).name == "Climbing"
    engine.send(OutgoingMessage(wa_id="CLIMB", to_jid=group["jid"], text="admins may post"))
    with pytest.raises(SimulationError, match="not an international"):
        simulate("add-contact", "--phone", "0612345678")
