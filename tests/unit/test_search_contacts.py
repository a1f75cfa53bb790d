"""search_contacts (reference/mcp-tools.md §2.9; §4 "search_contacts matched every chat"): display
names by case-insensitive substring, numbers only for queries holding a digit, readable chats only,
and the chats of a single match."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_chat, make_contact, make_device, make_message
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Contact, Device
from whatsapp.services.directory import search_contacts
from whatsapp.services.policies import Whitelist

pytestmark = pytest.mark.django_db

ALICE = "15551234567@s.whatsapp.net"
ALICE_LID = "123456789012345@lid"
BOB = "447700900123@s.whatsapp.net"
GROUP = "120363041234567890@g.us"
NOW = timezone.now()
EVERYTHING = Whitelist()


def ago(**delta):
    return NOW - timedelta(**delta)


@pytest.fixture
def device() -> Device:
    device = make_device()
    alice = Contact.link_twins(device.pk, ALICE, ALICE_LID)
    alice.custom_name = "Alice Martin"
    alice.save()
    make_chat(device, ALICE, contact=alice, last_message_at=ago(hours=2), last_message_preview="see you " * 20)
    make_chat(device, ALICE_LID, contact=alice, last_message_at=ago(minutes=1))
    make_contact(device, phone_jid=BOB, push_name="Bob Stone")
    make_chat(device, BOB, last_message_at=ago(minutes=30))
    make_chat(device, GROUP, name="Martin family", last_message_at=ago(minutes=10))
    make_chat(device, "15550009999@s.whatsapp.net", last_message_at=ago(minutes=5))  # nobody named it
    return device


def found(device: Device, query: str, **kwargs) -> list[str]:
    return [match.jid for match in search_contacts(device, query, allowed=kwargs.pop("allowed", EVERYTHING),
                                                   **kwargs)]


def test_display_names_match_case_insensitively_newest_first(device: Device) -> None:
    assert found(device, "MARTIN") == [ALICE_LID, GROUP]
    assert found(device, " stone ") == [BOB]


def test_a_match_carries_what_the_tool_shows(device: Device) -> None:
    make_message(device, device.chats.get(jid=ALICE))
    [match] = search_contacts(device, "alice", allowed=EVERYTHING)
    assert (match.jid, match.kind, match.name, match.phone, match.unread) == (
        ALICE_LID, "direct", "Alice Martin", "15551234567", 1)
    assert match.twins == [ALICE, ALICE_LID]
    assert match.last_message_at == ago(minutes=1)
    assert match.chats == []


@pytest.mark.parametrize("query", ["zzqx", "whatsapp", "lid", "net", "s.whatsapp.net", "@"])
def test_a_nonsense_or_digitless_query_finds_nothing(device: Device, query: str) -> None:
    assert found(device, query) == []


def test_digits_match_the_phone_number(device: Device) -> None:
    assert found(device, "+1 555 123") == [ALICE_LID]
    assert found(device, "+44 7700") == [BOB]
    assert found(device, "9999") == ["15550009999@s.whatsapp.net"]


def test_digits_match_the_lid_and_a_twins_user_part(device: Device) -> None:
    assert found(device, "123456789012") == [ALICE_LID]


def test_digits_match_a_group_jids_user_part(device: Device) -> None:
    assert found(device, "120363041234567890") == [GROUP]


def test_a_number_one_digit_off_finds_nothing(device: Device) -> None:
    assert found(device, "15551234568") == []


def test_only_readable_chats_are_searched(device: Device) -> None:
    assert found(device, "martin", allowed=Whitelist.parse(GROUP)) == [GROUP]
    Device.objects.filter(pk=device.pk).update(allowed_contacts="+447700900123")
    device.refresh_from_db()
    assert [m.jid for m in search_contacts(device, "o")] == [BOB]  # the device's whitelist by default


def test_the_limit(device: Device) -> None:
    assert found(device, "martin", limit=1) == [ALICE_LID]


@pytest.mark.parametrize(("query", "limit", "field"), [
    ("", 20, "query"), ("   ", 20, "query"), (None, 20, "query"), ("x" * 501, 20, "query"),
    ("alice", 0, "limit"), ("alice", 51, "limit"), ("alice", True, "limit"),
])
def test_bad_arguments_are_validation_errors(device: Device, query: object, limit: int, field: str) -> None:
    with pytest.raises(WhatsAppError) as caught:
        search_contacts(device, query, limit=limit)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert caught.value.details["field"] == field


# --- include_chats --------------------------------------------------------------------------------------------


def test_one_match_lists_its_chat_and_the_groups_where_it_wrote(device: Device) -> None:
    family = device.chats.get(jid=GROUP)
    quiet = make_chat(device, "120363052345678901@g.us", name="Quiet group", last_message_at=ago(minutes=3))
    older = make_chat(device, "120363063456789012@g.us", name="Old group", last_message_at=ago(days=3))
    make_message(device, family, sender_jid=ALICE_LID)
    make_message(device, older, sender_jid="", sender_phone_jid=ALICE)
    make_message(device, quiet, sender_jid=BOB)
    [match] = search_contacts(device, "alice", include_chats=True, allowed=EVERYTHING)
    assert [(c.jid, c.kind, c.name) for c in match.chats] == [
        (ALICE_LID, "direct", "Alice Martin"), (GROUP, "group", "Martin family"), (older.jid, "group", "Old group")]
    assert match.chats[0].last_message_at == ago(minutes=1)


def test_related_chats_are_whitelisted_and_capped_at_ten(device: Device) -> None:
    for n in range(12):
        group = make_chat(device, f"1203630000000000{n:02d}@g.us", name=f"G{n}", last_message_at=ago(minutes=n))
        make_message(device, group, sender_jid=ALICE)
    [match] = search_contacts(device, "alice", include_chats=True, allowed=EVERYTHING)
    assert len(match.chats) == 10
    [match] = search_contacts(device, "alice", include_chats=True,
                              allowed=Whitelist.parse("+15551234567,120363000000000003@g.us"))
    assert [c.jid for c in match.chats] == [ALICE_LID, "120363000000000003@g.us"]


def test_several_matches_list_no_chats(device: Device) -> None:
    matches = search_contacts(device, "martin", include_chats=True, allowed=EVERYTHING)
    assert len(matches) == 2
    assert all(match.chats == [] for match in matches)


def test_without_include_chats_no_chats(device: Device) -> None:
    [match] = search_contacts(device, "alice", allowed=EVERYTHING)
    assert match.chats == []
