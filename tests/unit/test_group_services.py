"""Group use cases: inputs validated before anything is queued, one ``call`` command per operation
whose arguments match the engine port by name, plain dicts back, and the group's chat row kept in
step (created on create/join, renamed when WhatsApp tells us a name)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import RunnerSide, connected_device, make_chat, make_device
from tests.support.device_calls import call_of, refused, returning
from whatsapp.engine.base import GroupInfo, GroupParticipant, ParticipantAction
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, ChatKind, DeviceCommand
from whatsapp.runtime.runner import to_jsonable
from whatsapp.services import commands
from whatsapp.services.groups import (
    MAX_GROUP_NAME,
    MAX_GROUP_TOPIC,
    create_group,
    group_info,
    group_invite_link,
    invite_code_of,
    join_group,
    joined_groups,
    leave_group,
    set_group_name,
    set_group_topic,
    update_participants,
)

GROUP = "120363041234567890@g.us"
PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
OWN = "15550001111@s.whatsapp.net"
PRIVATE = "5511912345678@s.whatsapp.net"
CODE = "Fam1lyInv1teC0deAbCdEf"


def info(jid: str = GROUP, name: str = "Team", participants: tuple[GroupParticipant, ...] = ()) -> dict:
    """A ``GroupInfo`` as the runner returns it (``{"value": to_jsonable(...)}``)."""
    return to_jsonable(GroupInfo(jid=jid, name=name, topic="Plans", owner_jid=OWN,
                                 created_at=datetime(2026, 1, 2, tzinfo=UTC), participants=participants or (
                                     GroupParticipant(jid=OWN, is_admin=True, is_super_admin=True),
                                     GroupParticipant(jid=PHONE))))


# --- validation -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_GROUP_NAME + 1), None])
def test_a_group_name_is_1_to_25_characters(name) -> None:
    error = refused(create_group, connected_device(), name, [PHONE])
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "name")
    error = refused(set_group_name, connected_device(), GROUP, name)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "name")


@pytest.mark.django_db
@pytest.mark.parametrize("people", [[], PHONE, ["not a number"], ["123@c.us"], [GROUP], ["+0044 20"],
                                    [f"+1555000{n:04d}" for n in range(257)]])
def test_participants_are_people_by_phone_or_jid(people) -> None:
    error = refused(create_group, connected_device(), "Team", people)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "participants")


@pytest.mark.django_db
def test_at_most_50_participants_change_at_a_time() -> None:
    people = [f"+1555000{n:04d}" for n in range(51)]
    error = refused(update_participants, connected_device(), GROUP, people, "add")
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "participants")


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["", "Family", PHONE, LID, "123@c.us", "+1 555 123 4567"])
@pytest.mark.parametrize("call", [
    group_info, leave_group, group_invite_link,
    lambda d, g: update_participants(d, g, [PHONE], "add"),
    lambda d, g: set_group_name(d, g, "New name"),
    lambda d, g: set_group_topic(d, g, "New topic"),
])
def test_group_operations_need_a_group_jid(call, group: str) -> None:
    error = refused(call, connected_device(), group)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "group_jid")


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["kick", "", None, "admin"])
def test_the_participant_action_is_add_remove_promote_or_demote(action) -> None:
    error = refused(update_participants, connected_device(), GROUP, [PHONE], action)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "action")


@pytest.mark.django_db
def test_a_topic_has_a_length_limit() -> None:
    error = refused(set_group_topic, connected_device(), GROUP, "x" * (MAX_GROUP_TOPIC + 1))
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "topic")


@pytest.mark.parametrize(("text", "code"), [
    (CODE, CODE), (f"https://chat.whatsapp.com/{CODE}", CODE), (f"  https://chat.whatsapp.com/{CODE}/ ", CODE),
    (f"chat.whatsapp.com/{CODE}", CODE), (f"http://CHAT.whatsapp.com/{CODE}?utm=x", CODE),
])
def test_an_invite_is_a_chat_whatsapp_com_link_or_its_bare_code(text: str, code: str) -> None:
    assert invite_code_of(text) == code


@pytest.mark.django_db
@pytest.mark.parametrize("link", ["", "   ", f"https://evil.example/{CODE}", "https://chat.whatsapp.com/",
                                  f"https://chat.whatsapp.com.evil.example/{CODE}", "two words",
                                  f"ftp://chat.whatsapp.com/{CODE}", "x" * 301, f"https://chat.whatsapp.com/a/{CODE}",
                                  "½[\r.;", "http://[::1/x"])
def test_other_invites_are_refused(link: str) -> None:
    error = refused(join_group, connected_device(), link)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "link")


@pytest.mark.django_db
@pytest.mark.parametrize("call", [
    lambda d: create_group(d, "Team", [PHONE]), lambda d: group_info(d, GROUP), joined_groups,
    lambda d: group_invite_link(d, GROUP), lambda d: join_group(d, CODE), lambda d: leave_group(d, GROUP),
    lambda d: update_participants(d, GROUP, [PHONE], "remove"), lambda d: set_group_name(d, GROUP, "Name"),
    lambda d: set_group_topic(d, GROUP, "Topic"),
])
def test_group_operations_need_a_connected_device(call) -> None:
    assert refused(call, make_device()).code is ErrorCode.MESSAGE_NOT_CONNECTED


# --- through the runner -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_creating_a_group_stores_its_chat() -> None:
    device = connected_device()
    refused_person = GroupParticipant(jid=PRIVATE, error=403)
    answer = info(name="Team", participants=(GroupParticipant(jid=OWN, is_super_admin=True, is_admin=True),
                                             GroupParticipant(jid=PHONE), refused_person))
    with RunnerSide(device.pk, returning(answer)) as runner:
        result = create_group(device, "  Team ", ["+1 555 123 4567", PHONE, "+55 11 91234-5678"])
    assert call_of(runner.handled[0]) == ("create_group", {"name": "Team", "participants": [PHONE, PRIVATE]})
    assert (result["jid"], result["name"], result["created_at"]) == (GROUP, "Team", "2026-01-02T00:00:00+00:00")
    outcomes = {p["jid"]: (p["ok"], p["reason"]) for p in result["participants"]}
    assert outcomes[PHONE] == (True, "")
    assert outcomes[PRIVATE][0] is False
    assert "privacy" in outcomes[PRIVATE][1]
    chat = Chat.objects.get(device=device, jid=GROUP)
    assert (chat.kind, chat.name) == (ChatKind.GROUP, "Team")


@pytest.mark.django_db(transaction=True)
def test_group_info_renames_the_stored_chat() -> None:
    device = connected_device()
    make_chat(device, GROUP, name="Old name")
    with RunnerSide(device.pk, returning(info(name="New name"))) as runner:
        result = group_info(device, f" {GROUP} ")
    assert call_of(runner.handled[0]) == ("group_info", {"group_jid": GROUP})
    assert [p["jid"] for p in result["participants"]] == [OWN, PHONE]
    assert all(p["ok"] for p in result["participants"])
    assert Chat.objects.get(device=device, jid=GROUP).name == "New name"


@pytest.mark.django_db(transaction=True)
def test_group_info_without_participant_data_does_not_crash() -> None:
    device = connected_device()
    answer = {k: v for k, v in info().items() if k != "participants"}
    with RunnerSide(device.pk, returning(answer)):
        assert group_info(device, GROUP)["participants"] == []
    assert not Chat.objects.filter(jid=GROUP).exists()  # reading does not create chats


@pytest.mark.django_db(transaction=True)
def test_joined_groups_lists_every_group() -> None:
    device = connected_device()
    make_chat(device, GROUP, name="")
    other = "120363052345678901@g.us"
    with RunnerSide(device.pk, returning([info(), info(other, "Falcon")])) as runner:
        groups = joined_groups(device)
    assert call_of(runner.handled[0]) == ("joined_groups", {})
    assert [(g["jid"], g["name"]) for g in groups] == [(GROUP, "Team"), (other, "Falcon")]
    assert Chat.objects.get(jid=GROUP).name == "Team"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("answer", [CODE, f"https://chat.whatsapp.com/{CODE}"])
def test_an_invite_link_is_always_a_full_link(answer: str) -> None:
    device = connected_device()
    make_chat(device, GROUP, name="Family")
    with RunnerSide(device.pk, returning(answer)) as runner:
        result = group_invite_link(device, GROUP, reset=True)
    assert call_of(runner.handled[0]) == ("group_invite_link", {"group_jid": GROUP, "reset": True})
    assert result == {"jid": GROUP, "name": "Family", "link": f"https://chat.whatsapp.com/{CODE}", "code": CODE,
                      "reset": True}


@pytest.mark.django_db(transaction=True)
def test_joining_stores_the_group_with_its_name() -> None:
    device = connected_device()

    def answer(command: DeviceCommand) -> None:
        method = command.payload["method"]
        command.succeed({"value": GROUP if method == "join_group" else info(name="Family")})

    # Two round trips one after the other: the second runner side starts claiming once the first is done.
    with RunnerSide(device.pk, answer) as first, RunnerSide(device.pk, answer, delay_s=0.6) as second:
        result = join_group(device, f"https://chat.whatsapp.com/{CODE}")
    assert call_of(first.handled[0]) == ("join_group", {"invite_code": CODE})
    assert call_of(second.handled[0]) == ("group_info", {"group_jid": GROUP})
    assert result == {"jid": GROUP, "name": "Family", "code": CODE}
    assert Chat.objects.get(device=device, jid=GROUP).name == "Family"


@pytest.mark.django_db(transaction=True)
def test_a_join_whose_name_lookup_fails_still_joined() -> None:
    device = connected_device()

    def answer(command: DeviceCommand) -> None:
        if command.payload["method"] == "join_group":
            command.succeed({"value": GROUP})
        else:
            command.fail(ErrorCode.CONNECTION_LOST)

    with RunnerSide(device.pk, answer), RunnerSide(device.pk, answer, delay_s=0.6):
        result = join_group(device, CODE)
    assert (result["jid"], result["name"]) == (GROUP, "")
    assert Chat.objects.filter(device=device, jid=GROUP, kind=ChatKind.GROUP).exists()


@pytest.mark.django_db(transaction=True)
def test_an_invalid_invite_is_raised() -> None:
    device = connected_device()
    with RunnerSide(device.pk, lambda c: c.fail(ErrorCode.NOT_FOUND, "that group invite link has been revoked")), \
            pytest.raises(WhatsAppError) as excinfo:
        join_group(device, CODE)
    assert excinfo.value.code is ErrorCode.NOT_FOUND
    assert not Chat.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_leaving_keeps_the_chat() -> None:
    device = connected_device()
    make_chat(device, GROUP, name="Family")
    with RunnerSide(device.pk, returning(None)) as runner:
        result = leave_group(device, GROUP)
    assert call_of(runner.handled[0]) == ("leave_group", {"group_jid": GROUP})
    assert result == {"jid": GROUP, "name": "Family", "left": True}
    assert Chat.objects.filter(jid=GROUP).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["add", " ADD ", ParticipantAction.ADD])
def test_participant_changes_report_each_outcome(action) -> None:
    device = connected_device()
    answer = to_jsonable([GroupParticipant(jid=PHONE), GroupParticipant(jid=PRIVATE, error=403),
                          GroupParticipant(jid=LID, error=409)])
    with RunnerSide(device.pk, returning(answer)) as runner:
        result = update_participants(device, GROUP, ["+15551234567", PRIVATE, LID], action)
    assert call_of(runner.handled[0]) == ("update_participants", {"group_jid": GROUP, "jids": [PHONE, PRIVATE, LID],
                                                                  "action": "add"})
    assert (result["jid"], result["action"], result["succeeded"], result["failed"]) == (GROUP, "add", 1, 2)
    assert [(p["jid"], p["ok"]) for p in result["participants"]] == [(PHONE, True), (PRIVATE, False), (LID, False)]
    assert result["participants"][2]["reason"] == "already in the group"


@pytest.mark.django_db(transaction=True)
def test_an_unknown_participant_error_is_still_explained() -> None:
    device = connected_device()
    with RunnerSide(device.pk, returning(to_jsonable([GroupParticipant(jid=PHONE, error=418)]))):
        result = update_participants(device, GROUP, [PHONE], "promote")
    assert result["participants"][0]["reason"] == "WhatsApp refused it (error 418)"


@pytest.mark.django_db(transaction=True)
def test_a_new_name_is_set_and_stored() -> None:
    device = connected_device()
    make_chat(device, GROUP, name="Old")
    with RunnerSide(device.pk, returning(None)) as runner:
        assert set_group_name(device, GROUP, " Renamed ") == {"jid": GROUP, "name": "Renamed"}
    assert call_of(runner.handled[0]) == ("set_group_name", {"group_jid": GROUP, "name": "Renamed"})
    assert Chat.objects.get(jid=GROUP).name == "Renamed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("topic", "cleared"), [("Sunday dinners", False), ("", True)])
def test_a_topic_is_set_or_cleared(topic: str, cleared: bool) -> None:
    device = connected_device()
    with RunnerSide(device.pk, returning(None)) as runner:
        result = set_group_topic(device, GROUP, topic)
    assert call_of(runner.handled[0]) == ("set_group_topic", {"group_jid": GROUP, "topic": topic})
    assert result == {"jid": GROUP, "topic": topic, "cleared": cleared}


@pytest.mark.django_db(transaction=True)
def test_a_whatsapp_refusal_is_raised_as_its_member() -> None:
    device = connected_device()
    with RunnerSide(device.pk, lambda c: c.fail(ErrorCode.FORBIDDEN, "only group admins can do this")), \
            pytest.raises(WhatsAppError) as excinfo:
        update_participants(device, GROUP, [PHONE], "remove")
    assert excinfo.value.code is ErrorCode.FORBIDDEN


@pytest.mark.django_db(transaction=True)
def test_no_answer_is_a_connection_timeout(monkeypatch) -> None:
    monkeypatch.setattr(commands, "CALL_TIMEOUT_S", 0.2)
    device = connected_device()
    with pytest.raises(WhatsAppError) as excinfo:
        group_info(device, GROUP)
    assert excinfo.value.code is ErrorCode.CONNECTION_TIMEOUT
