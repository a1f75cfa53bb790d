"""The one recipient and chat resolver (reference/mcp-tools.md §1.6, §4 "five inconsistent resolvers",
"phone numbers were fuzzy-matched", "input containing @ was accepted unchecked")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_chat, make_contact, make_device
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Contact, Device
from whatsapp.services.recipients import (
    is_phone_like,
    levenshtein,
    match_score,
    person_or_jid,
    resolve,
)

pytestmark = pytest.mark.django_db

PHONE = "15551234567@s.whatsapp.net"
LID = "123456789012345@lid"
GROUP = "120363041234567890@g.us"
NOW = timezone.now()


def refusal(code: ErrorCode, device: Device, text: object, **kwargs) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as caught:
        resolve(device, text, **kwargs)
    assert caught.value.code is code, caught.value.message
    return caught.value


def chats(device: Device, *names: str, kind_jids: str = "person") -> dict[str, str]:
    """A named chat per name, the first the most recently active; returns name → JID."""
    found = {}
    for n, name in enumerate(names):
        jid = f"1203630000000000{n:02d}@g.us" if kind_jids == "group" else f"1555000{n:04d}@s.whatsapp.net"
        make_chat(device, jid, name=name, last_message_at=NOW - timedelta(minutes=n))
        found[name] = jid
    return found


# --- empty and JIDs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", None, 42])
def test_empty_input_is_a_validation_error_naming_the_field(text: object) -> None:
    error = refusal(ErrorCode.VALIDATION_ERROR, make_device(), text, field="chat")
    assert error.details["field"] == "chat"


@pytest.mark.parametrize("text", [PHONE, LID, GROUP])
def test_a_valid_jid_is_used_directly_without_a_chat(text: str) -> None:
    resolved = resolve(make_device(), f"  {text} ")
    assert (resolved.jid, resolved.how, resolved.name) == (text, "jid", text)
    assert resolved.kind == ("group" if text == GROUP else "direct")


def test_a_device_suffix_is_dropped() -> None:
    assert resolve(make_device(), "15551234567:12@s.whatsapp.net").jid == PHONE


@pytest.mark.parametrize("text", ["15551234567@c.us", "@s.whatsapp.net", "alice@s.whatsapp.net", "bob@lid",
                                  "status@broadcast", "15551234567@", "a@b@g.us", "1555 123@s.whatsapp.net"])
def test_a_malformed_jid_is_refused(text: str) -> None:
    error = refusal(ErrorCode.VALIDATION_ERROR, make_device(), text, field="to")
    assert error.details == {"field": "to"}
    assert "not a valid WhatsApp JID" in error.message


def test_c_us_is_explained() -> None:
    assert "old name of s.whatsapp.net" in refusal(ErrorCode.VALIDATION_ERROR, make_device(), "1555@c.us").message


def test_a_jid_of_a_known_person_carries_name_and_twins() -> None:
    device = make_device()
    contact = Contact.link_twins(device.pk, PHONE, LID)
    contact.custom_name = "Alice"
    contact.save()
    resolved = resolve(device, LID)
    assert (resolved.name, resolved.twins) == ("Alice", [PHONE, LID])


# --- phone numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["+1 (555) 123-4567", "15551234567", "+1.555.123.4567"])
def test_a_phone_number_becomes_its_phone_jid(text: str) -> None:
    resolved = resolve(make_device(), text)
    assert (resolved.jid, resolved.how, resolved.kind) == (PHONE, "phone", "direct")


def test_a_number_one_digit_off_a_contact_does_not_reach_that_contact() -> None:
    device = make_device()
    make_contact(device, phone_jid=PHONE, custom_name="Alice")
    make_chat(device, PHONE, name="Alice")
    resolved = resolve(device, "+15551234568")
    assert resolved.jid == "15551234568@s.whatsapp.net"
    assert resolved.name == "15551234568@s.whatsapp.net"


def test_a_number_with_a_known_twin_is_named_by_the_twin() -> None:
    device = make_device()
    contact = Contact.link_twins(device.pk, PHONE, LID)
    make_chat(device, LID, name="Alice on LID", contact=contact)
    resolved = resolve(device, "+1 555 123 4567")
    assert (resolved.jid, resolved.name, resolved.twins) == (PHONE, "Alice on LID", [PHONE, LID])


@pytest.mark.parametrize(("text", "says"), [
    ("0044 20 7946 0958", "Replace the leading 00 with +: +442079460958"),
    ("+0044 20 7946 0958", "Replace the leading 00 with +"),
    ("020 7946 0958", "looks like a local number"),
    ("+0 555 123 4567", "invalid country code"),
    ("+1 555 12", "too short: 6 digits, at least 7"),
    ("+1 234 567 890 123 456", "too long: 16 digits, at most 15"),
])
def test_each_phone_rule_explains_itself(text: str, says: str) -> None:
    error = refusal(ErrorCode.VALIDATION_ERROR, make_device(), text, field="to")
    assert says in error.message
    assert error.details["field"] == "to"


def test_punctuation_without_digits_or_letters_with_digits_are_names_not_numbers() -> None:
    refusal(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, make_device(), "+")
    refusal(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, make_device(), "+1 555 CALL NOW")


def test_phone_like_means_phone_punctuation_and_a_digit() -> None:
    assert is_phone_like("+1 (555) 123-45.67")
    assert not is_phone_like("+ - ( )")
    assert not is_phone_like("Room 101")
    assert not is_phone_like("".join(chr(0xFF10 + d) for d in range(1, 8)))  # fullwidth digits


# --- scoring ----------------------------------------------------------------------------------------------


def test_levenshtein() -> None:
    assert levenshtein("", "abc") == 3
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("jon", "john") == 1
    assert levenshtein("muller", "müller") == 1
    assert levenshtein("same", "same") == 0


@pytest.mark.parametrize(("query", "name", "score"), [
    ("Mom", "Mom", 0),
    ("  mom ", "MOM", 0),
    ("strasse", "Straße", 0),  # Unicode case-fold
    ("Mom", "Mom Work", 1),
    ("work", "Mom Work", 2),
    ("m", "Mom", 1),
    ("o", "Mom", 2),
    ("x", "Max", 2),
    ("q", "Mom", None),  # a one-character query stops after containment
    ("Jon", "John", 4),  # whole name, distance 1
    ("Muller", "Müller", 4),
    ("Jhon", "John", 5),  # whole name, distance 2
    ("smiht", "Anna-Maria Smith", None),  # a word at distance 2, but ⌊0.3·5⌋ = 1 allows only 1
])
def test_match_scores(query: str, name: str, score: int | None) -> None:
    assert match_score(query, name) == score


def test_word_matches_split_on_whitespace_dashes_and_underscores() -> None:
    assert match_score("smyth", "Anna-Maria Smith") == 5
    assert match_score("smyth", "anna_smith") == 5
    assert match_score("smyth", "Anna   Smith") == 5
    assert match_score("annna", "Anna-Maria Smith") == 5


def test_a_close_word_match_outranks_a_loose_whole_name_match() -> None:
    assert match_score("carla", "carol") == 5  # whole name, distance 2
    assert match_score("robertx", "Dr Robert Smith") == 5  # word, distance 1
    assert match_score("abcdefghijk", "abcdefghxyz") == 6  # whole name, distance 3 ≤ ⌊0.4·11⌋ = 4


def test_inner_whitespace_is_kept() -> None:
    assert match_score("mom  work", "Mom Work") == 4  # one space too many: distance 1


def test_no_match() -> None:
    assert match_score("zebra", "Mom Work") is None
    assert match_score("", "Mom") is None


# --- names: the examples of §1.6 ----------------------------------------------------------------------------


def test_mom_beats_mom_work() -> None:
    device = make_device()
    named = chats(device, "Mom Work", "Mom")
    resolved = resolve(device, "Mom")
    assert (resolved.jid, resolved.name, resolved.how) == (named["Mom"], "Mom", "name")


def test_sarah_is_ambiguous() -> None:
    device = make_device()
    named = chats(device, "Sarah Connor", "Sarah McLachlan")
    error = refusal(ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, device, "Sarah")
    assert error.details["candidates"] == [{"name": "Sarah Connor", "jid": named["Sarah Connor"]},
                                           {"name": "Sarah McLachlan", "jid": named["Sarah McLachlan"]}]
    assert "Sarah Connor (15550000000@s.whatsapp.net)" in error.message
    assert "Sarah McLachlan" in error.message


def test_jon_finds_john() -> None:
    device = make_device()
    named = chats(device, "John", "Mary")
    assert resolve(device, "Jon").jid == named["John"]


def test_muller_finds_mueller() -> None:
    device = make_device()
    named = chats(device, "Müller", "Schmidt")
    assert resolve(device, "Muller").jid == named["Müller"]


def test_two_chats_with_the_same_exact_name_are_ambiguous() -> None:
    device = make_device()
    chats(device, "Alex", "alex ")
    refusal(ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, device, "Alex")


def test_a_person_is_not_ambiguous_with_their_twin() -> None:
    device = make_device()
    contact = Contact.link_twins(device.pk, PHONE, LID)
    make_chat(device, PHONE, name="Alice", contact=contact)
    make_chat(device, LID, name="Alice", contact=contact)
    resolved = resolve(device, "alice")
    assert (resolved.jid, resolved.twins) == (LID, [PHONE, LID])


def test_custom_names_are_matched() -> None:
    device = make_device()
    make_contact(device, phone_jid=PHONE, custom_name="Boss")
    make_chat(device, PHONE, name="Robert")
    assert resolve(device, "boss").jid == PHONE
    refusal(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, device, "Robert")


def test_candidates_are_ordered_by_recent_activity_and_capped_at_five() -> None:
    device = make_device()
    named = chats(device, *(f"Team {n}" for n in range(7)))
    error = refusal(ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, device, "team")
    assert [c["jid"] for c in error.details["candidates"]] == [named[f"Team {n}"] for n in range(5)]


def test_a_strictly_better_candidate_wins_over_several_worse_ones() -> None:
    device = make_device()
    named = chats(device, "Annette", "Anna Lee", "Anna")
    assert resolve(device, "anna").jid == named["Anna"]


def test_no_candidate_is_not_found_with_a_hint() -> None:
    device = make_device()
    chats(device, "Alice")
    error = refusal(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, device, "Zebulon", field="chat")
    assert "list_chats" in error.recovery
    assert "search_contacts" in error.recovery
    assert error.details == {"field": "chat", "query": "Zebulon"}


def test_unnamed_chats_are_not_matched_by_their_jid() -> None:
    device = make_device()
    make_chat(device, PHONE)
    refusal(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, device, "whatsapp")


def test_groups_are_matched_by_name_for_people_tools_too() -> None:
    device = make_device()
    make_chat(device, GROUP, name="Family")
    assert resolve(device, "family").kind == "group"


# --- groups ---------------------------------------------------------------------------------------------------


def test_group_tools_match_group_chats_only() -> None:
    device = make_device()
    make_chat(device, PHONE, name="Family Doctor", last_message_at=NOW)
    named = chats(device, "Family", kind_jids="group")
    resolved = resolve(device, "Family Doc", groups_only=True)
    assert (resolved.jid, resolved.kind) == (named["Family"], "group")


def test_group_tools_take_a_group_jid_directly_and_refuse_a_person() -> None:
    device = make_device()
    assert resolve(device, GROUP, groups_only=True).jid == GROUP
    error = refusal(ErrorCode.VALIDATION_ERROR, device, PHONE, groups_only=True, field="group")
    assert error.details["field"] == "group"


def test_group_names_fall_back_to_the_live_list_by_exact_name() -> None:
    device = make_device()
    calls = []

    def live():
        calls.append(1)
        return [("120363099999999999@g.us", "Book Club"), ("120363088888888888@g.us", "Book Club Extra")]

    resolved = resolve(device, " book club ", groups_only=True, live_groups=live)
    assert (resolved.jid, resolved.name, resolved.kind, resolved.how) == (
        "120363099999999999@g.us", "Book Club", "group", "name")
    assert calls == [1]
    refusal(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, device, "book", groups_only=True, live_groups=live)


def test_the_live_list_is_not_asked_when_a_local_group_matches() -> None:
    device = make_device()
    named = chats(device, "Book Club", kind_jids="group")

    def live():
        raise AssertionError("not needed")

    assert resolve(device, "book", groups_only=True, live_groups=live).jid == named["Book Club"]


def test_an_ambiguous_group_name_is_ambiguous_not_not_found() -> None:
    device = make_device()
    chats(device, "Climbing", "Climbing", kind_jids="group")
    refusal(ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, device, "climbing", groups_only=True)
    live = [("120363099999999999@g.us", "Chess"), ("120363088888888888@g.us", "chess")]
    refusal(ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, device, "Chess", groups_only=True, live_groups=lambda: live)


def test_an_unknown_group_name_is_not_found_with_a_group_hint() -> None:
    error = refusal(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, make_device(), "Nope", groups_only=True,
                    live_groups=lambda: [])
    assert "get_joined_groups" in error.recovery


def test_digits_name_a_group_for_group_tools() -> None:
    device = make_device()
    named = chats(device, "2024", kind_jids="group")
    assert resolve(device, "2024", groups_only=True).jid == named["2024"]


# --- phone or JID only ----------------------------------------------------------------------------------------------


def test_person_or_jid() -> None:
    assert person_or_jid("+1 555 123 4567", "phone") == PHONE
    assert person_or_jid(LID, "jid") == LID
    assert person_or_jid(GROUP, "jid") == GROUP


@pytest.mark.parametrize(("text", "says"), [
    ("Alice", "is not a phone number"),  # letters are invalid, never a name
    ("1555123456x", "is not a phone number"),
    ("1555@c.us", "not a valid WhatsApp JID"),
    ("+ ( )", "contains no digits"),
    ("", "required"),
])
def test_person_or_jid_refuses_names_and_bad_input(text: str, says: str) -> None:
    with pytest.raises(WhatsAppError) as caught:
        person_or_jid(text, "phone")
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert says in caught.value.message
    assert caught.value.details["field"] == "phone"


def test_person_or_jid_can_refuse_groups() -> None:
    with pytest.raises(WhatsAppError) as caught:
        person_or_jid(GROUP, "jid", people_only=True)
    assert "is a group" in caught.value.message
