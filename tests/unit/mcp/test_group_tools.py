"""The nine group tools over MCP (reference/mcp-tools.md §2.16 to §2.24): groups resolved by §1.6 rule 4,
the whitelist on the group (and on the people added or promoted), outbound tokens taken only right
before WhatsApp is asked, the labelled facts of each result, and WhatsApp's refusals as the enum's
members. Every error code a tool documents is produced here, and nothing else is documented."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from audit.models import AuditLog
from tests.factories import ScriptedRunner as Runner
from tests.factories import connected_device, make_chat, make_device
from tests.support.device_calls import call_of
from tests.support.mcp import Outcome, call, ok, refused
from whatsapp.engine.base import GroupInfo, GroupParticipant
from whatsapp.errors import ErrorCode
from whatsapp.mcp.tooling import REGISTRY
from whatsapp.mcp.tools import groups as group_tools
from whatsapp.mcp.tools.info import COMMON
from whatsapp.models import Chat, ChatKind, Device, DeviceCommand, ThrottleHit
from whatsapp.runtime.runner import to_jsonable

E = ErrorCode
GROUP = "120363041234567890@g.us"
OTHER_GROUP = "120363052345678901@g.us"
PHONE = "15551234567@s.whatsapp.net"
PRIVATE = "5511912345678@s.whatsapp.net"
LID = "118207457280017@lid"
OWN = "15550001111@s.whatsapp.net"
CODE = "Fam1lyInv1teC0deAbCdEf"
TOOLS = ("create_group", "get_group_info", "get_joined_groups", "get_group_invite_link", "join_group", "leave_group",
         "update_group_participants", "set_group_name", "set_group_topic")
ARGS: dict[str, dict] = {
    "create_group": {"name": "Team", "participants": [PHONE]},
    "get_group_info": {"group": GROUP},
    "get_joined_groups": {},
    "get_group_invite_link": {"group": GROUP},
    "join_group": {"link": CODE},
    "leave_group": {"group": GROUP},
    "update_group_participants": {"group": GROUP, "action": "remove", "participants": [PHONE]},
    "set_group_name": {"group": GROUP, "name": "Renamed"},
    "set_group_topic": {"group": GROUP, "topic": "Plans"},
}


@pytest.fixture(autouse=True)
def defaults(settings):
    settings.RATE_LIMIT_PER_MIN = 60
    settings.ALLOWED_CONTACTS = []
    settings.DISABLED_TOOLS = []






def value(result: object) -> Callable[[DeviceCommand], None]:
    return lambda command: command.succeed({"value": to_jsonable(result)})


def failing(code: ErrorCode, message: str = "", **details) -> Callable[[DeviceCommand], None]:
    return lambda command: command.fail(code, message or None, details or None)


def info(jid: str = GROUP, name: str = "Team", participants: tuple[GroupParticipant, ...] | None = None,
         **fields) -> GroupInfo:
    if participants is None:
        participants = (GroupParticipant(jid=OWN, is_admin=True, is_super_admin=True), GroupParticipant(jid=PHONE),
                        GroupParticipant(jid=LID, is_admin=True))
    return GroupInfo(jid=jid, name=name, topic="Sunday dinners", owner_jid=OWN,
                     created_at=datetime(2026, 1, 2, tzinfo=UTC), participants=participants, **fields)


def tokens(device: Device) -> int:
    return ThrottleHit.objects.filter(key=f"outbound:{device.pk}").count()


def nothing_happened(device: Device) -> None:
    assert not DeviceCommand.objects.filter(device=device).exists(), "a refused call queues nothing"
    assert tokens(device) == 0, "a refused call takes no rate token"


def allow_only(device: Device, *entries: str) -> None:
    device.allowed_contacts = ",".join(entries)
    device.save(update_fields=["allowed_contacts"])


def exhaust_tokens(device: Device) -> None:
    device.rate_limit_per_min = 1
    device.save(update_fields=["rate_limit_per_min"])
    ThrottleHit.objects.create(key=f"outbound:{device.pk}")


# --- registration --------------------------------------------------------------------------------


def test_the_group_tools_are_live_and_annotated() -> None:
    specs = {name: REGISTRY[name] for name in TOOLS}
    assert all(spec.live for spec in specs.values())
    assert {n for n, s in specs.items() if s.read_only} == {"get_group_info", "get_joined_groups"}
    assert {n for n, s in specs.items() if s.destructive} == {"leave_group", "update_group_participants"}
    assert {n for n, s in specs.items() if s.rate == "outbound"} == {"create_group", "join_group",
                                                                      "update_group_participants"}
    assert all(s.annotations()["openWorldHint"] for s in specs.values())
    assert specs["create_group"].input_schema()["properties"]["name"]["maxLength"] == 100
    assert specs["create_group"].input_schema()["properties"]["participants"]["maxItems"] == 256
    assert specs["update_group_participants"].input_schema()["properties"]["participants"]["maxItems"] == 50
    assert specs["set_group_topic"].input_schema()["properties"]["topic"]["maxLength"] == 512
    assert specs["join_group"].input_schema()["properties"]["link"]["maxLength"] == 300


# --- create_group --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_create_group_reports_jid_count_and_who_was_refused() -> None:
    device = connected_device(phone_jid=OWN)
    answer = info(name="Team", participants=(GroupParticipant(jid=OWN, is_admin=True, is_super_admin=True),
                                             GroupParticipant(jid=PHONE), GroupParticipant(jid=PRIVATE, error=403)))
    with Runner(device.pk, [value(answer)]) as runner:
        outcome = ok(device, "create_group", name=" Team ", participants=["+1 555 123 4567", PHONE, "+5511912345678"])
    assert call_of(runner.handled[0]) == ("create_group", {"name": "Team", "participants": [PHONE, PRIVATE]})
    assert "Group created: Team" in outcome.text
    assert f"JID: {GROUP}" in outcome.text
    assert "Participants: 2 in the group (2 requested)" in outcome.text
    assert f"- {PRIVATE}: their privacy settings" in outcome.text
    assert outcome.data["jid"] == GROUP
    assert outcome.data["participant_count"] == 2
    assert [r["jid"] for r in outcome.data["refused"]] == [PRIVATE]
    assert outcome.data["refused"][0]["error"] == 403
    assert outcome.data["invite_link"] is None
    assert tokens(device) == 1
    assert Chat.objects.get(device=device, jid=GROUP).kind == ChatKind.GROUP
    audit = AuditLog.objects.get(action="create_group")
    assert audit.success
    assert audit.details["arguments"]["group_jid"] == GROUP


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["x" * 26, "   "])
def test_create_group_refuses_names_whatsapp_would_refuse_before_taking_a_token(name: str) -> None:
    device = connected_device()
    outcome = refused(device, "create_group", E.VALIDATION_ERROR, name=name, participants=[PHONE])
    assert outcome.details["field"] == "name"
    nothing_happened(device)


@pytest.mark.django_db
@pytest.mark.parametrize("arguments", [{"name": "x" * 101, "participants": [PHONE]},
                                       {"name": "", "participants": [PHONE]},
                                       {"name": "Team", "participants": []},
                                       {"name": "Team", "participants": [PHONE] * 257}])
def test_create_group_bounds_are_the_schemas(arguments: dict) -> None:
    device = connected_device()
    refused(device, "create_group", E.VALIDATION_ERROR, **arguments)
    nothing_happened(device)


@pytest.mark.django_db
@pytest.mark.parametrize("person", ["Alice", "15551234567@c.us", GROUP, "+0044 20 7946 0958", "12345"])
def test_participants_are_phone_numbers_or_person_jids(person: str) -> None:
    device = connected_device()
    make_chat(device, PHONE, name="Alice")  # a name is never resolved for a participant
    outcome = refused(device, "create_group", E.VALIDATION_ERROR, name="Team", participants=[person])
    assert outcome.details["field"] == "participants"
    nothing_happened(device)


@pytest.mark.django_db
def test_create_group_needs_every_participant_allowed() -> None:
    device = connected_device()
    allow_only(device, "+15551234567")
    outcome = refused(device, "create_group", E.PERMISSION_CONTACT_NOT_WHITELISTED, name="Team",
                      participants=[PHONE, "+5511912345678"])
    assert PRIVATE in outcome.text
    nothing_happened(device)


# --- group resolution (§1.6 rule 4) --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_group_name_resolves_to_the_local_group_chat() -> None:
    device = connected_device(phone_jid=OWN)
    make_chat(device, GROUP, name="Family")
    make_chat(device, PHONE, name="Family")  # a person of that name is not a group
    with Runner(device.pk, [value(info(name="Family"))]) as runner:
        outcome = ok(device, "get_group_info", group="family")
    assert call_of(runner.handled[0]) == ("group_info", {"group_jid": GROUP})
    assert f"JID: {GROUP}" in outcome.text


@pytest.mark.django_db(transaction=True)
def test_with_no_local_match_the_live_joined_groups_are_matched_exactly() -> None:
    device = connected_device(phone_jid=OWN)
    joined = [info(OTHER_GROUP, "Falcon"), info(GROUP, "Falcon Fans")]
    with Runner(device.pk, [value(joined), value(info(OTHER_GROUP, "Falcon"))]) as runner:
        outcome = ok(device, "get_group_info", group="FALCON")
    assert [call_of(c)[0] for c in runner.handled] == ["joined_groups", "group_info"]
    assert call_of(runner.handled[1])[1] == {"group_jid": OTHER_GROUP}
    assert outcome.data["jid"] == OTHER_GROUP


@pytest.mark.django_db
def test_an_ambiguous_group_name_is_ambiguous_not_not_found() -> None:
    device = connected_device()
    make_chat(device, GROUP, name="Family")
    make_chat(device, OTHER_GROUP, name="Family")
    outcome = refused(device, "leave_group", E.MESSAGE_AMBIGUOUS_RECIPIENT, group="Family")
    assert {c["jid"] for c in outcome.details["candidates"]} == {GROUP, OTHER_GROUP}
    nothing_happened(device)


@pytest.mark.django_db(transaction=True)
def test_an_unknown_group_name_is_not_found_with_a_hint() -> None:
    device = connected_device()
    with Runner(device.pk, [value([info(OTHER_GROUP, "Falcon")])]):
        outcome = refused(device, "get_group_invite_link", E.MESSAGE_RECIPIENT_NOT_FOUND, group="Nowhere")
    assert "get_joined_groups" in outcome.text
    assert "list_chats" in outcome.text
    assert tokens(device) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("group", [PHONE, LID, "123@c.us", "", "  "])
def test_a_group_argument_must_be_a_group(group: str) -> None:
    device = connected_device()
    outcome = refused(device, "set_group_topic", E.VALIDATION_ERROR, group=group, topic="x")
    assert outcome.details["field"] == "group"
    nothing_happened(device)


@pytest.mark.django_db
@pytest.mark.parametrize("tool", [t for t in TOOLS if "group" in ARGS[t]])
def test_every_tool_on_a_group_checks_the_whitelist(tool: str) -> None:
    device = connected_device()
    allow_only(device, "+15551234567", OTHER_GROUP)
    outcome = refused(device, tool, E.PERMISSION_CONTACT_NOT_WHITELISTED, **ARGS[tool])
    assert outcome.details["jid"] == GROUP
    nothing_happened(device)
    assert AuditLog.objects.get(action=tool).error_code == "PERMISSION_CONTACT_NOT_WHITELISTED"


@pytest.mark.django_db(transaction=True)
def test_a_group_listed_in_the_whitelist_passes() -> None:
    device = connected_device()
    allow_only(device, GROUP)
    with Runner(device.pk, [value(None)]):
        ok(device, "leave_group", group=GROUP)


# --- get_group_info ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_group_info_lists_participants_roles_admins_and_settings() -> None:
    device = connected_device(phone_jid=OWN)
    make_chat(device, PHONE, name="Alice")
    with Runner(device.pk, [value(info(name="Family", is_locked=True, is_announce=False))]):
        outcome = ok(device, "get_group_info", group=GROUP)
    text = outcome.text
    assert "Name: Family" in text
    assert f"JID: {GROUP}" in text
    assert "Description: Sunday dinners" in text
    assert "Participants: 3" in text
    assert f"- {OWN} | type: user | role: owner" in text
    assert f"- Alice ({PHONE}) | type: user | role: member" in text
    assert f"- {LID} | type: LID | role: admin" in text
    assert f"Admins: {OWN} (owner), {LID} (admin)" in text
    assert "Edit group info: admins only" in text
    assert "Send messages: all members" in text
    data = outcome.data
    assert (data["jid"], data["name"], data["description"], data["participant_count"]) == (
        GROUP, "Family", "Sunday dinners", 3)
    assert [(p["jid"], p["type"], p["role"]) for p in data["participants"]] == [
        (OWN, "user", "owner"), (PHONE, "user", "member"), (LID, "LID", "admin")]
    assert data["admins"] == [{"jid": OWN, "role": "owner"}, {"jid": LID, "role": "admin"}]
    assert (data["edit_info_admins_only"], data["send_admins_only"]) == (True, False)
    assert tokens(device) == 0  # reads take no token


@pytest.mark.django_db(transaction=True)
def test_group_info_without_participant_data_says_unknown() -> None:
    device = connected_device()
    answer = {"jid": GROUP, "name": "", "participants": None}  # a bridge that sent next to nothing
    with Runner(device.pk, [lambda c: c.succeed({"value": answer})]):
        outcome = ok(device, "get_group_info", group=GROUP)
    assert "Name: (no name)" in outcome.text
    assert "Participants: unknown" in outcome.text
    assert "Admins: unknown" in outcome.text
    assert "Edit group info: unknown" in outcome.text
    assert "Send messages: unknown" in outcome.text
    assert outcome.data["participant_count"] is None
    assert outcome.data["participants"] == []


@pytest.mark.django_db(transaction=True)
def test_group_info_survives_participants_missing_fields() -> None:
    device = connected_device()
    answer = {"jid": GROUP, "name": "Team", "participants": [{"jid": PHONE}, {"is_admin": True}]}
    with Runner(device.pk, [lambda c: c.succeed({"value": answer})]):
        outcome = ok(device, "get_group_info", group=GROUP)
    assert "Participants: 2" in outcome.text
    assert "- unknown | type: unknown | role: admin" in outcome.text


# --- get_joined_groups ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_joined_groups_show_admin_flag_member_count_and_admins() -> None:
    device = connected_device(phone_jid=OWN)
    bare = {"jid": OTHER_GROUP, "name": "", "participants": []}
    with Runner(device.pk, [lambda c: c.succeed({"value": [to_jsonable(info(name="Family")), bare]})]):
        outcome = ok(device, "get_joined_groups")
    text = outcome.text
    assert "Groups: 2" in text
    assert f"1. Family\n   JID: {GROUP}\n   Members: 3\n   You are admin: yes" in text
    assert f"Admins: {OWN} (owner), {LID} (admin)" in text
    assert f"2. {OTHER_GROUP}\n   JID: {OTHER_GROUP}\n   Members: unknown\n   You are admin: unknown" in text
    assert outcome.data["count"] == 2
    assert outcome.data["groups"][0] == {"jid": GROUP, "name": "Family", "member_count": 3, "is_admin": True,
                                         "admins": [{"jid": OWN, "role": "owner"}, {"jid": LID, "role": "admin"}]}
    assert outcome.data["groups"][1]["member_count"] is None


@pytest.mark.django_db(transaction=True)
def test_joined_groups_show_only_allowed_groups_and_may_be_empty() -> None:
    device = connected_device(phone_jid=PHONE)
    allow_only(device, OTHER_GROUP)
    with Runner(device.pk, [value([info(GROUP, "Hidden"), info(OTHER_GROUP, "Shown")])]):
        outcome = ok(device, "get_joined_groups")
    assert "Hidden" not in outcome.text
    assert GROUP not in outcome.text
    assert [g["jid"] for g in outcome.data["groups"]] == [OTHER_GROUP]
    assert outcome.data["groups"][0]["is_admin"] is False
    with Runner(device.pk, [value([])]):
        outcome = ok(device, "get_joined_groups")
    assert outcome.data == {"count": 0, "groups": []}
    assert "Groups: 0" in outcome.text


# --- invite links and joining --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("answer", [CODE, f"https://chat.whatsapp.com/{CODE}"])
def test_the_invite_link_is_always_the_full_url(answer: str) -> None:
    device = connected_device()
    make_chat(device, GROUP, name="Family")
    with Runner(device.pk, [value(answer)]) as runner:
        outcome = ok(device, "get_group_invite_link", group="Family")
    assert call_of(runner.handled[0]) == ("group_invite_link", {"group_jid": GROUP, "reset": False})
    assert f"Invite link: https://chat.whatsapp.com/{CODE}" in outcome.text
    assert "Group: Family" in outcome.text
    assert f"JID: {GROUP}" in outcome.text
    assert outcome.data == {"jid": GROUP, "name": "Family", "link": f"https://chat.whatsapp.com/{CODE}", "code": CODE}


@pytest.mark.django_db(transaction=True)
def test_an_unknown_group_points_to_get_joined_groups_and_list_chats() -> None:
    device = connected_device()
    with Runner(device.pk, [failing(E.NOT_FOUND, "that group does not exist")]):
        outcome = refused(device, "get_group_invite_link", E.NOT_FOUND, group=GROUP)
    assert "get_joined_groups" in outcome.text
    assert "list_chats" in outcome.text


@pytest.mark.django_db(transaction=True)
def test_not_being_an_admin_is_explained() -> None:
    device = connected_device()
    with Runner(device.pk, [failing(E.FORBIDDEN, "only admins can see the invite link")]):
        outcome = refused(device, "get_group_invite_link", E.FORBIDDEN, group=GROUP)
    assert "not an admin" in outcome.text


@pytest.mark.django_db(transaction=True)
def test_join_group_joins_and_names_the_group() -> None:
    device = connected_device()
    with Runner(device.pk, [value(GROUP), value(info(name="Family"))]) as runner:
        outcome = ok(device, "join_group", link=f"https://chat.whatsapp.com/{CODE}")
    assert call_of(runner.handled[0]) == ("join_group", {"invite_code": CODE})
    assert "Joined group: Family" in outcome.text
    assert f"JID: {GROUP}" in outcome.text
    assert outcome.data == {"jid": GROUP, "name": "Family", "joined": True}
    assert tokens(device) == 1
    assert Chat.objects.get(device=device, jid=GROUP).name == "Family"


@pytest.mark.django_db
@pytest.mark.parametrize("link", [f"https://evil.example/{CODE}", f"https://chat.whatsapp.com.evil.example/{CODE}",
                                  "two words", f"ftp://chat.whatsapp.com/{CODE}", "https://chat.whatsapp.com/"])
def test_join_group_accepts_only_chat_whatsapp_com(link: str) -> None:
    device = connected_device()
    outcome = refused(device, "join_group", E.VALIDATION_ERROR, link=link)
    assert outcome.details["field"] == "link"
    nothing_happened(device)


@pytest.mark.django_db
def test_join_group_with_a_whitelist_is_refused_since_the_invite_cannot_be_looked_up() -> None:
    device = connected_device()
    allow_only(device, GROUP)
    outcome = refused(device, "join_group", E.PERMISSION_CONTACT_NOT_WHITELISTED, link=CODE)
    assert outcome.details["reason"] == "invite_lookup_unavailable"
    nothing_happened(device)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("answer", [failing(E.NOT_FOUND, "that group invite link has been revoked"),
                                    failing(E.VALIDATION_ERROR, "that group invite link is not valid")])
def test_a_dead_invite_is_not_found_and_used_its_token(answer) -> None:
    device = connected_device()
    with Runner(device.pk, [answer]):
        outcome = refused(device, "join_group", E.NOT_FOUND, link=CODE)
    assert "invalid, expired or revoked" in outcome.text
    assert tokens(device) == 1
    assert not Chat.objects.filter(device=device).exists()


# --- leave_group ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_leave_group_says_which_group_was_left_and_keeps_the_chat() -> None:
    device = connected_device()
    make_chat(device, GROUP, name="Family")
    with Runner(device.pk, [value(None)]) as runner:
        outcome = ok(device, "leave_group", group="Family")
    assert call_of(runner.handled[0]) == ("leave_group", {"group_jid": GROUP})
    assert "Left group: Family" in outcome.text
    assert f"JID: {GROUP}" in outcome.text
    assert outcome.data == {"jid": GROUP, "name": "Family", "left": True}
    assert Chat.objects.filter(device=device, jid=GROUP).exists()
    assert tokens(device) == 0  # leave_group takes no token (get_tool_info says so)


# --- update_group_participants -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_partial_failure_is_a_success_listing_the_failures() -> None:
    device = connected_device()
    answer = [GroupParticipant(jid=PHONE), GroupParticipant(jid=PRIVATE, error=403)]
    with Runner(device.pk, [value(answer)]) as runner:
        outcome = ok(device, "update_group_participants", group=GROUP, action="add",
                     participants=["+1 555 123 4567", PRIVATE])
    assert call_of(runner.handled[0]) == ("update_participants", {"group_jid": GROUP, "jids": [PHONE, PRIVATE],
                                                                  "action": "add"})
    assert "Action: add" in outcome.text
    assert f"JID: {GROUP}" in outcome.text
    assert "Participants: 2 (1 ok, 1 failed)" in outcome.text
    assert f"- {PHONE}: ok" in outcome.text
    assert f"- {PRIVATE}: failed: their privacy settings" in outcome.text
    assert (outcome.data["succeeded"], outcome.data["failed"], outcome.data["participant_count"]) == (1, 1, 2)
    assert [(p["jid"], p["ok"]) for p in outcome.data["participants"]] == [(PHONE, True), (PRIVATE, False)]
    assert tokens(device) == 1


@pytest.mark.django_db(transaction=True)
def test_when_every_participant_failed_the_result_is_an_error() -> None:
    device = connected_device()
    answer = [GroupParticipant(jid=PHONE, error=409), GroupParticipant(jid=PRIVATE, error=403)]
    with Runner(device.pk, [value(answer)]):
        outcome = refused(device, "update_group_participants", E.WHATSAPP_ERROR, group=GROUP, action="add",
                          participants=[PHONE, PRIVATE])
    assert "already in the group" in outcome.text
    assert "privacy" in outcome.text
    assert [p["jid"] for p in outcome.details["participants"]] == [PHONE, PRIVATE]
    assert tokens(device) == 1  # WhatsApp was asked: the token was used


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["add", "promote"])
def test_people_added_or_promoted_must_be_allowed(action: str) -> None:
    device = connected_device()
    allow_only(device, GROUP, "+15551234567")
    outcome = refused(device, "update_group_participants", E.PERMISSION_CONTACT_NOT_WHITELISTED, group=GROUP,
                      action=action, participants=[PHONE, PRIVATE])
    assert outcome.details["jid"] == PRIVATE
    nothing_happened(device)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["remove", "demote"])
def test_anyone_may_be_removed_or_demoted_from_an_allowed_group(action: str) -> None:
    device = connected_device()
    allow_only(device, GROUP)
    with Runner(device.pk, [value([GroupParticipant(jid=PRIVATE)])]):
        outcome = ok(device, "update_group_participants", group=GROUP, action=action, participants=[PRIVATE])
    assert outcome.data["succeeded"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("arguments", [{"action": "kick", "participants": [PHONE]},
                                       {"action": "ADD", "participants": [PHONE]},
                                       {"action": "add", "participants": []},
                                       {"action": "add", "participants": [PHONE] * 51},
                                       {"action": "add", "participants": ["Alice"]}])
def test_participant_changes_are_validated_first(arguments: dict) -> None:
    device = connected_device()
    refused(device, "update_group_participants", E.VALIDATION_ERROR, group=GROUP, **arguments)
    nothing_happened(device)


# --- set_group_name and set_group_topic ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_set_group_name_renames_the_group_and_its_chat() -> None:
    device = connected_device()
    make_chat(device, GROUP, name="Old")
    with Runner(device.pk, [value(None)]) as runner:
        outcome = ok(device, "set_group_name", group="Old", name=" New name ")
    assert call_of(runner.handled[0]) == ("set_group_name", {"group_jid": GROUP, "name": "New name"})
    assert "Group name set: New name" in outcome.text
    assert f"JID: {GROUP}" in outcome.text
    assert outcome.data == {"jid": GROUP, "name": "New name"}
    assert Chat.objects.get(device=device, jid=GROUP).name == "New name"


@pytest.mark.django_db
def test_set_group_name_refuses_what_whatsapp_would() -> None:
    device = connected_device()
    outcome = refused(device, "set_group_name", E.VALIDATION_ERROR, group=GROUP, name="y" * 26)
    assert outcome.details["field"] == "name"
    assert "25" in outcome.text
    refused(device, "set_group_name", E.VALIDATION_ERROR, group=GROUP, name="y" * 101)
    nothing_happened(device)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("topic", "state"), [("Sunday dinners", "updated"), ("", "cleared")])
def test_set_group_topic_updates_or_clears_the_description(topic: str, state: str) -> None:
    device = connected_device()
    with Runner(device.pk, [value(None)]) as runner:
        outcome = ok(device, "set_group_topic", group=GROUP, topic=topic)
    assert call_of(runner.handled[0]) == ("set_group_topic", {"group_jid": GROUP, "topic": topic})
    assert f"Description: {state}" in outcome.text
    assert f"JID: {GROUP}" in outcome.text
    assert outcome.data["cleared"] is (state == "cleared")
    assert outcome.data["updated"] is (state == "updated")


@pytest.mark.django_db
def test_a_topic_is_at_most_512_characters() -> None:
    device = connected_device()
    refused(device, "set_group_topic", E.VALIDATION_ERROR, group=GROUP, topic="t" * 513)
    nothing_happened(device)


# --- shared checks -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("tool", TOOLS)
def test_every_group_tool_needs_a_connection(tool: str) -> None:
    device = make_device()
    refused(device, tool, E.MESSAGE_NOT_CONNECTED, **ARGS[tool])
    nothing_happened(device)


@pytest.mark.django_db
@pytest.mark.parametrize("tool", TOOLS)
def test_a_disabled_group_tool_is_refused_first(tool: str) -> None:
    device = make_device()  # not even connected: the disabled check comes first
    device.disabled_tools = f"send_reaction, {tool}"
    device.save(update_fields=["disabled_tools"])
    refused(device, tool, E.PERMISSION_TOOL_DISABLED, **ARGS[tool])
    nothing_happened(device)
    assert AuditLog.objects.get(action=tool).error_code == "PERMISSION_TOOL_DISABLED"


@pytest.mark.django_db
@pytest.mark.parametrize("tool", ["create_group", "update_group_participants"])
def test_the_rate_limit_refuses_before_anything_is_queued(tool: str) -> None:
    device = connected_device()
    exhaust_tokens(device)
    outcome = refused(device, tool, E.MESSAGE_RATE_LIMITED, **ARGS[tool])
    assert outcome.details["retry_after_s"] >= 1
    assert not DeviceCommand.objects.exists()
    assert tokens(device) == 1


# --- every documented error, and only those ------------------------------------------------------


def _unknown_name(device: Device, tool: str) -> Outcome:
    with Runner(device.pk, [value([])]):
        return call(device, tool, **{**ARGS[tool], "group": "Nowhere"})


def _ambiguous(device: Device, tool: str) -> Outcome:
    make_chat(device, GROUP, name="Family")
    make_chat(device, OTHER_GROUP, name="Family")
    return call(device, tool, **{**ARGS[tool], "group": "Family"})


def _not_allowed(device: Device, tool: str) -> Outcome:
    allow_only(device, "+15559999999")
    return call(device, tool, **ARGS[tool])


def _rate_limited(device: Device, tool: str) -> Outcome:
    exhaust_tokens(device)
    return call(device, tool, **ARGS[tool])


def _whatsapp(code: ErrorCode) -> Callable[[Device, str], Outcome]:
    def scenario(device: Device, tool: str) -> Outcome:
        with Runner(device.pk, [failing(code, "WhatsApp said no")]):
            return call(device, tool, **ARGS[tool])
    return scenario


LOCAL = {E.MESSAGE_RECIPIENT_NOT_FOUND: _unknown_name, E.MESSAGE_AMBIGUOUS_RECIPIENT: _ambiguous,
         E.PERMISSION_CONTACT_NOT_WHITELISTED: _not_allowed, E.MESSAGE_RATE_LIMITED: _rate_limited}
ON_ANY = (E.PROVIDER_RATE_LIMITED, E.PROVIDER_ERROR, E.CONNECTION_LOST, E.CONNECTION_ABORTED, E.CONNECTION_TIMEOUT,
          E.WHATSAPP_ERROR)
ON_GROUP = (E.FORBIDDEN, E.NOT_FOUND, *ON_ANY)
RESOLVING = (E.MESSAGE_RECIPIENT_NOT_FOUND, E.MESSAGE_AMBIGUOUS_RECIPIENT, E.PERMISSION_CONTACT_NOT_WHITELISTED)
OBSERVED: dict[str, tuple[ErrorCode, ...]] = {
    "create_group": (E.PERMISSION_CONTACT_NOT_WHITELISTED, E.MESSAGE_RATE_LIMITED, *ON_ANY),
    "get_group_info": (*RESOLVING, *ON_GROUP),
    "get_joined_groups": ON_ANY,
    "get_group_invite_link": (*RESOLVING, *ON_GROUP),
    "join_group": (E.PERMISSION_CONTACT_NOT_WHITELISTED, E.MESSAGE_RATE_LIMITED, E.NOT_FOUND, *ON_ANY),
    "leave_group": (*RESOLVING, *ON_GROUP),
    "update_group_participants": (*RESOLVING, E.MESSAGE_RATE_LIMITED, *ON_GROUP),
    "set_group_name": (*RESOLVING, *ON_GROUP),
    "set_group_topic": (*RESOLVING, *ON_GROUP),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("tool", "code"), [(tool, code) for tool, codes in OBSERVED.items() for code in codes])
def test_every_documented_error_occurs(tool: str, code: ErrorCode) -> None:
    device = connected_device()
    scenario = LOCAL.get(code) or _whatsapp(code)
    outcome = scenario(device, tool)
    assert outcome.is_error, outcome.text
    assert outcome.code is code, outcome.text
    assert outcome.text.startswith(f"{code.code} ({code.category})")
    assert outcome.data["error"]["retryable"] is code.retryable
    if code in LOCAL:
        assert not DeviceCommand.objects.exclude(payload__method="joined_groups").exists()
        assert tokens(device) == (1 if code is E.MESSAGE_RATE_LIMITED else 0)  # the refused take added none


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tool_documents_exactly_the_errors_it_returns(tool: str) -> None:
    spec = REGISTRY[tool]
    documented = set(spec.errors) | set(COMMON) | {E.MESSAGE_NOT_CONNECTED}
    assert documented == set(OBSERVED[tool]) | set(COMMON) | {E.MESSAGE_NOT_CONNECTED}
    assert set(group_tools.UPSTREAM) == set(ON_ANY)


@pytest.mark.django_db
def test_get_tool_info_renders_the_group_tools_docs() -> None:
    device = connected_device()
    outcome = ok(device, "get_tool_info", tool_name="join_group")
    assert "Rate limit: one outbound token per call" in outcome.text
    assert "PERMISSION_CONTACT_NOT_WHITELISTED" in outcome.text
    assert "chat.whatsapp.com" in outcome.text
    assert set(outcome.data["errors"]) == {c.code for c in (*OBSERVED["join_group"], *COMMON,
                                                            E.MESSAGE_NOT_CONNECTED)}
