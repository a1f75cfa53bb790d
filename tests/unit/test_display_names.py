"""Display names (reference/mcp-tools.md, Terms): custom name, a twin's custom name, the stored chat
name, the synced contact names (full, push, business), else the JID — and the batched Directory."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_chat, make_contact, make_device
from whatsapp.models import Contact
from whatsapp.services.directory import Directory, display_name

pytestmark = pytest.mark.django_db

PHONE = "15551234567@s.whatsapp.net"
LID = "123456789012345@lid"
OLD_LID = "987654321098765@lid"
GROUP = "120363041234567890@g.us"


def twins(device, **names) -> Contact:
    contact = Contact.link_twins(device.pk, PHONE, LID)
    for field, value in names.items():
        setattr(contact, field, value)
    contact.save()
    return contact


# --- precedence -----------------------------------------------------------------------------------


def test_the_custom_name_comes_first() -> None:
    device = make_device()
    contact = make_contact(device, phone_jid=PHONE, custom_name="Mum", full_name="Mary Smith", push_name="M")
    make_chat(device, PHONE, name="Mary (chat)", contact=contact)
    assert display_name(device, PHONE) == "Mum"


def test_a_twins_custom_name_names_the_other_address() -> None:
    device = make_device()
    contact = twins(device, custom_name="Alice")
    make_chat(device, LID, name="alice-from-sync", contact=contact)
    assert display_name(device, LID) == "Alice"
    assert display_name(device, PHONE) == "Alice"


def test_an_older_lid_whose_chat_still_holds_the_contact_is_the_same_person() -> None:
    device = make_device()
    contact = twins(device, custom_name="Alice")
    make_chat(device, OLD_LID, contact=contact)  # the newest mapping replaced OLD_LID on the contact
    directory = Directory(device)
    assert directory.name(OLD_LID) == "Alice"
    assert OLD_LID in directory.twins(PHONE)
    assert directory.phone_of(OLD_LID) == "15551234567"


def test_the_stored_chat_name_comes_before_synced_names() -> None:
    device = make_device()
    contact = make_contact(device, phone_jid=PHONE, full_name="Mary Smith", push_name="M")
    make_chat(device, PHONE, name="Mary from history", contact=contact)
    assert display_name(device, PHONE) == "Mary from history"


@pytest.mark.parametrize("stored", ["", "   ", PHONE])
def test_an_empty_chat_name_or_one_equal_to_the_jid_is_no_name(stored: str) -> None:
    device = make_device()
    contact = make_contact(device, phone_jid=PHONE, push_name="Mary")
    make_chat(device, PHONE, name=stored, contact=contact)
    assert display_name(device, PHONE) == "Mary"


def test_a_chat_name_that_is_a_twins_jid_is_no_name() -> None:
    device = make_device()
    contact = twins(device)
    make_chat(device, LID, name=PHONE, contact=contact)
    assert display_name(device, LID) == LID


def test_a_twins_chat_name_names_an_address_without_one() -> None:
    device = make_device()
    contact = twins(device)
    make_chat(device, PHONE, name="", contact=contact)
    make_chat(device, LID, name="Alice (LID chat)", contact=contact)
    assert display_name(device, PHONE) == "Alice (LID chat)"


def test_the_jids_own_chat_name_beats_a_twins() -> None:
    device = make_device()
    contact = twins(device)
    now = timezone.now()
    make_chat(device, PHONE, name="By phone", contact=contact, last_message_at=now - timedelta(days=1))
    make_chat(device, LID, name="By LID", contact=contact, last_message_at=now)
    assert display_name(device, PHONE) == "By phone"
    assert display_name(device, LID) == "By LID"


@pytest.mark.parametrize(("names", "expected"), [
    ({"full_name": "Address Book", "push_name": "Pushy", "business_name": "Biz Ltd"}, "Address Book"),
    ({"push_name": "Pushy", "business_name": "Biz Ltd"}, "Pushy"),
    ({"business_name": "Biz Ltd"}, "Biz Ltd"),
    ({}, PHONE),
])
def test_synced_names_in_order_full_push_business_then_the_jid(names: dict, expected: str) -> None:
    device = make_device()
    make_contact(device, phone_jid=PHONE, **names)
    assert display_name(device, PHONE) == expected


def test_an_unknown_jid_is_its_own_name() -> None:
    assert display_name(make_device(), PHONE) == PHONE


def test_a_group_is_named_by_its_chat_else_its_jid() -> None:
    device = make_device()
    assert display_name(device, GROUP) == GROUP
    make_chat(device, GROUP, name="Family")
    assert display_name(device, GROUP) == "Family"


def test_a_given_chat_name_stands_for_the_stored_one() -> None:
    device = make_device()
    make_contact(device, phone_jid=PHONE, push_name="Mary")
    assert display_name(device, PHONE, chat_name="From the caller") == "From the caller"
    assert display_name(device, PHONE, chat_name="") == "Mary"
    make_contact(device, lid=LID, custom_name="Custom")
    assert display_name(device, LID, chat_name="From the caller") == "Custom"


def test_the_device_suffix_is_stripped() -> None:
    device = make_device()
    make_contact(device, phone_jid=PHONE, custom_name="Me")
    assert display_name(device, " 15551234567:3@s.whatsapp.net ") == "Me"


def test_names_do_not_cross_devices() -> None:
    first, second = make_device(), make_device()
    make_contact(first, phone_jid=PHONE, custom_name="Alice")
    assert display_name(second, PHONE) == PHONE


# --- the batched form ---------------------------------------------------------------------------


def test_the_directory_answers_twins_and_phone_numbers() -> None:
    device = make_device()
    twins(device)
    directory = Directory(device)
    assert directory.twins(LID) == [PHONE, LID]
    assert directory.twins(PHONE) == [PHONE, LID]
    assert directory.twins(GROUP) == [GROUP]
    assert directory.phone_of(LID) == "15551234567"
    assert directory.phone_of(PHONE) == "15551234567"
    assert directory.phone_of("111222333444555@lid") is None
    assert directory.phone_of(GROUP) is None
    assert directory.key_of(PHONE) == LID
    assert directory.key_of(GROUP) == GROUP


def test_a_phone_without_a_known_lid_is_its_own_key() -> None:
    device = make_device()
    make_contact(device, phone_jid=PHONE)
    assert Directory(device).key_of(PHONE) == PHONE


def test_the_directory_names_a_hundred_people_in_two_queries(django_assert_num_queries) -> None:
    device = make_device()
    people = [f"1555000{n:04d}@s.whatsapp.net" for n in range(100)]
    for n, jid in enumerate(people):
        contact = make_contact(device, phone_jid=jid, push_name=f"Person {n}")
        make_chat(device, jid, contact=contact)
    device = type(device).objects.get(pk=device.pk)
    with django_assert_num_queries(2):
        directory = Directory(device)
        names = [directory.name(jid) for jid in people]
        [directory.twins(jid) for jid in people]
    assert names[7] == "Person 7"


def test_a_sender_is_shown_by_name_else_push_name_else_number() -> None:
    device = make_device()
    make_contact(device, phone_jid=PHONE, custom_name="Alice")
    directory = Directory(device)
    assert directory.sender_name(PHONE, "pushed") == "Alice"
    assert directory.sender_name("15550009999@s.whatsapp.net", "Bob") == "Bob"
    assert directory.sender_name("15550009999@s.whatsapp.net") == "+15550009999"
    assert directory.sender_name("555666777888999@lid") == "555666777888999@lid"
