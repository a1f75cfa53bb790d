"""Message actions, groups and contact lookups end to end: the test process calls the services, a real
fleet runs the device's runner with the simulator engine, and ``simulate sent`` shows what reached the
(simulated) WhatsApp network. Nothing is mocked; every hop crosses a process boundary."""

from __future__ import annotations

import pytest

from tests.factories import make_chat
from tests.integration import test_fleet_runtime as runtime
from tests.integration.test_fleet_runtime import PEER, connected_device, simulate
from tests.support.processes import wait_until
from whatsapp.models import Chat, Contact, DeliveryStatus, DeviceEvent, Direction, EventType, Message, Reaction
from whatsapp.services.actions import ReceiptOutcome, edit_message, mark_read, react, revoke_message
from whatsapp.services.contacts import is_on_whatsapp, lid_for_phone, profile_picture, user_info
from whatsapp.services.groups import (
    create_group,
    group_info,
    group_invite_link,
    join_group,
    joined_groups,
    leave_group,
    set_group_name,
    set_group_topic,
    update_participants,
)
from whatsapp.services.messages import Outgoing, send_message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# The runtime tests' fixtures (a real fleet on PostgreSQL, the simulator engine), shared by name.
gateway_env = runtime.gateway_env
fleet = runtime.fleet

ALICE = "15145550101@s.whatsapp.net"
ALICE_LID = "118207457280017@lid"
BOB = "+15145550102"
CHLOE = "15145550103@s.whatsapp.net"
FERNANDA = "5511912345678@s.whatsapp.net"  # refuses being added by strangers (add_privacy)
LANDLINE = "+15145550107"  # in the world, but not on WhatsApp


def sent(env: dict[str, str], device, kind: str) -> list[dict]:
    return simulate(env, "sent", str(device.pk), "--kind", kind)


def group_ops(env: dict[str, str], device, group_jid: str) -> list[dict]:
    return [r["payload"] for r in sent(env, device, "group") if r["chat_jid"] == group_jid]


def event_types(device) -> list[str]:
    return list(DeviceEvent.objects.filter(device=device).values_list("type", flat=True))


def test_react_edit_revoke_and_mark_read(gateway_env, fleet):
    device = connected_device(gateway_env)
    simulate(gateway_env, "message", str(device.pk), "--from", PEER, "--text", "lunch?")
    incoming = wait_until(lambda: Message.objects.filter(device=device, direction=Direction.INBOUND).first(), 15,
                          what="inbound message stored")

    reaction = react(device, incoming.wa_id, "👍🏽")
    [record] = sent(gateway_env, device, "reaction")
    assert (record["wa_id"], record["chat_jid"]) == (reaction.action_wa_id, ALICE)
    assert (record["payload"]["target_wa_id"], record["payload"]["emoji"]) == (incoming.wa_id, "👍🏽")
    assert Reaction.objects.get(message=incoming).sender_jid == device.phone_jid

    react(device, incoming.wa_id, "")
    assert sent(gateway_env, device, "reaction")[-1]["payload"]["removed"] is True
    assert not Reaction.objects.filter(message=incoming).exists()

    reads_before = len(sent(gateway_env, device, "read"))  # the runner may have auto-read it already
    result = mark_read(device, PEER)
    assert (result.marked, result.receipts) == (1, ReceiptOutcome.SENT)
    reads = sent(gateway_env, device, "read")[reads_before:]
    assert [(r["chat_jid"], r["payload"]["sender_jid"], r["payload"]["wa_ids"]) for r in reads] == [
        (ALICE, ALICE, [incoming.wa_id])]
    assert Chat.objects.get(device=device, jid=ALICE).unread_count == 0

    mine = send_message(device, Outgoing(to=PEER, text="see you at noon"))
    assert mine.status != DeliveryStatus.QUEUED
    edited = edit_message(device, mine.wa_id, "see you at one")
    [record] = sent(gateway_env, device, "edit")
    assert (record["wa_id"], record["payload"]["target_wa_id"], record["payload"]["text"]) == (
        edited.action_wa_id, mine.wa_id, "see you at one")
    mine.refresh_from_db()
    assert (mine.body, mine.edited_at is not None) == ("see you at one", True)

    revoked = revoke_message(device, mine.wa_id)
    [record] = sent(gateway_env, device, "revoke")
    assert (record["wa_id"], record["payload"]["target_wa_id"], record["payload"]["edit"]) == (
        revoked.action_wa_id, mine.wa_id, "7")  # 7: the sender's own revoke
    mine.refresh_from_db()
    assert mine.revoked_at is not None

    types = event_types(device)
    assert types.count(EventType.REACTION) == 2
    assert EventType.MESSAGE_EDITED in types
    assert EventType.MESSAGE_REVOKED in types


def test_create_a_group_read_it_share_it_rename_it_leave_and_join_again(gateway_env, fleet):
    device = connected_device(gateway_env)
    created = create_group(device, "Gateway crew", [PEER, BOB])
    group = created["jid"]
    assert group.endswith("@g.us")
    assert {p["jid"] for p in created["participants"] if p["ok"]} >= {ALICE, "15145550102@s.whatsapp.net"}
    assert Chat.objects.get(device=device, jid=group).name == "Gateway crew"
    assert group_ops(gateway_env, device, group)[0]["op"] == "create"

    info = group_info(device, group)
    roles = {p["jid"]: p["is_super_admin"] for p in info["participants"]}
    assert roles[device.phone_jid] is True
    assert roles[ALICE] is False
    assert group in [g["jid"] for g in joined_groups(device)]

    link = group_invite_link(device, group)
    assert link["link"].startswith("https://chat.whatsapp.com/")

    set_group_name(device, group, "Crew")
    set_group_topic(device, group, "Release planning")
    assert (group_info(device, group)["name"], group_info(device, group)["topic"]) == ("Crew", "Release planning")
    assert Chat.objects.get(device=device, jid=group).name == "Crew"

    leave_group(device, group)
    assert group not in [g["jid"] for g in joined_groups(device)]
    joined = join_group(device, link["link"])
    assert (joined["jid"], joined["name"]) == (group, "Crew")
    ops = [op["op"] for op in group_ops(gateway_env, device, group)]
    assert ops == ["create", "set_group_name", "set_group_topic", "leave", "join"]


def test_group_participants_are_added_promoted_and_removed(gateway_env, fleet):
    device = connected_device(gateway_env)
    group = create_group(device, "Participants", [PEER])["jid"]

    added = update_participants(device, group, [CHLOE, FERNANDA], "add")
    outcomes = {p["jid"]: p for p in added["participants"]}
    assert outcomes[CHLOE]["ok"] is True
    assert (outcomes[FERNANDA]["ok"], outcomes[FERNANDA]["error"]) == (False, 403)
    assert (added["succeeded"], added["failed"]) == (1, 1)

    update_participants(device, group, [PEER], "promote")
    update_participants(device, group, [CHLOE], "remove")
    members = {p["jid"]: p for p in group_info(device, group)["participants"]}
    assert members[ALICE]["is_admin"] is True
    assert CHLOE not in members
    changes = [(op["action"], op["jids"]) for op in group_ops(gateway_env, device, group) if op["op"] == "participants"]
    assert changes == [("add", [CHLOE, FERNANDA]), ("promote", [ALICE]), ("remove", [CHLOE])]


def test_is_on_whatsapp_and_profile_pictures(gateway_env, fleet):
    device = connected_device(gateway_env)
    answers = is_on_whatsapp(device, [PEER, LANDLINE])
    assert [(a["query"], a["jid"], a["is_on_whatsapp"]) for a in answers] == [
        (PEER, ALICE, True), (LANDLINE, "15145550107@s.whatsapp.net", False)]
    picture = profile_picture(device, PEER)
    assert picture is not None
    assert picture["url"].startswith("https://")
    assert profile_picture(device, BOB) is None  # Bob has no picture: a success
    assert lid_for_phone(device, PEER) == ALICE_LID


def test_user_info_learns_twins(gateway_env, fleet):
    device = connected_device(gateway_env)
    make_chat(device, ALICE)
    [info] = user_info(device, [PEER, LANDLINE])
    assert (info["jid"], info["status"], info["lid"], info["phone_jid"]) == (ALICE, "Available", ALICE_LID, ALICE)
    assert Contact.objects.filter(device=device, phone_jid=ALICE, lid=ALICE_LID).exists()
