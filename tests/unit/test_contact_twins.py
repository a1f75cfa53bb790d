"""Contacts: one person per device, whether seen by phone JID, by LID, or both (twins)."""

from __future__ import annotations

import pytest

from tests.factories import make_chat, make_contact, make_device
from whatsapp.models import Chat, Contact

pytestmark = pytest.mark.django_db

PHONE = "15551234567@s.whatsapp.net"
LID = "123456789012345@lid"
OTHER_LID = "987654321098765@lid"


# --- for_jid ----------------------------------------------------------------------------------


def test_for_jid_creates_a_contact_by_phone() -> None:
    device = make_device()
    contact = Contact.for_jid(device.pk, PHONE)
    assert contact.phone_jid == PHONE
    assert contact.lid is None


def test_for_jid_creates_a_contact_by_lid() -> None:
    device = make_device()
    contact = Contact.for_jid(device.pk, LID)
    assert contact.lid == LID
    assert contact.phone_jid is None


def test_for_jid_returns_the_existing_contact() -> None:
    device = make_device()
    first = Contact.for_jid(device.pk, PHONE)
    again = Contact.for_jid(device.pk, " 15551234567:2@s.whatsapp.net ")
    assert again.pk == first.pk
    assert Contact.objects.count() == 1


def test_for_jid_finds_a_twin_by_either_address() -> None:
    device = make_device()
    twin = Contact.link_twins(device.pk, PHONE, LID)
    assert Contact.for_jid(device.pk, PHONE).pk == twin.pk
    assert Contact.for_jid(device.pk, LID).pk == twin.pk
    assert Contact.objects.count() == 1


def test_for_jid_keeps_devices_apart() -> None:
    first, second = make_device(), make_device()
    assert Contact.for_jid(first.pk, PHONE).pk != Contact.for_jid(second.pk, PHONE).pk


@pytest.mark.parametrize("jid", ["120363012345678901@g.us", "status@broadcast", "15551234567@c.us", "garbage", ""])
def test_for_jid_rejects_groups_and_non_person_jids(jid: str) -> None:
    device = make_device()
    with pytest.raises(ValueError):  # noqa: PT011 - the model raises a bare ValueError
        Contact.for_jid(device.pk, jid)
    assert not Contact.objects.exists()


# --- link_twins -------------------------------------------------------------------------------


def test_link_twins_creates_one_contact_with_both_addresses() -> None:
    device = make_device()
    contact = Contact.link_twins(device.pk, PHONE, LID)
    contact.refresh_from_db()
    assert (contact.phone_jid, contact.lid) == (PHONE, LID)
    assert Contact.objects.count() == 1


def test_link_twins_fills_in_the_lid_of_a_phone_contact() -> None:
    device = make_device()
    existing = make_contact(device, phone_jid=PHONE, push_name="Bob")
    contact = Contact.link_twins(device.pk, PHONE, LID)
    assert contact.pk == existing.pk
    contact.refresh_from_db()
    assert (contact.phone_jid, contact.lid, contact.push_name) == (PHONE, LID, "Bob")
    assert Contact.objects.count() == 1


def test_link_twins_fills_in_the_phone_of_a_lid_contact() -> None:
    device = make_device()
    existing = make_contact(device, lid=LID, push_name="Bob")
    contact = Contact.link_twins(device.pk, PHONE, LID)
    assert contact.pk == existing.pk
    contact.refresh_from_db()
    assert (contact.phone_jid, contact.lid, contact.push_name) == (PHONE, LID, "Bob")
    assert Contact.objects.count() == 1


def test_link_twins_normalizes_both_addresses() -> None:
    device = make_device()
    contact = Contact.link_twins(device.pk, " 15551234567:3@s.whatsapp.net", "123456789012345:1@lid ")
    assert (contact.phone_jid, contact.lid) == (PHONE, LID)


def test_newest_lid_of_a_number_wins() -> None:
    device = make_device()
    contact = Contact.link_twins(device.pk, PHONE, OTHER_LID)
    relinked = Contact.link_twins(device.pk, PHONE, LID)
    assert relinked.pk == contact.pk
    relinked.refresh_from_db()
    assert relinked.lid == LID
    assert Contact.objects.count() == 1


def test_link_twins_merges_two_contacts_into_one() -> None:
    device = make_device()
    by_phone = make_contact(device, phone_jid=PHONE, push_name="Bob", full_name="")
    by_lid = make_contact(device, lid=LID, push_name="Robert", full_name="Robert Smith", custom_name="Boss")
    merged = Contact.link_twins(device.pk, PHONE, LID)
    assert Contact.objects.count() == 1
    assert merged.pk in (by_phone.pk, by_lid.pk)
    merged.refresh_from_db()
    assert (merged.phone_jid, merged.lid) == (PHONE, LID)
    assert merged.push_name == "Bob"  # the surviving contact keeps its own name first
    assert merged.full_name == "Robert Smith"  # and takes the names only the other knew
    assert merged.custom_name == "Boss"


def test_merge_re_points_the_chats_of_both_twins() -> None:
    device = make_device()
    by_phone = make_contact(device, phone_jid=PHONE)
    by_lid = make_contact(device, lid=LID)
    phone_chat = make_chat(device, PHONE, contact=by_phone)
    lid_chat = make_chat(device, LID, contact=by_lid)
    merged = Contact.link_twins(device.pk, PHONE, LID)
    assert Chat.objects.get(pk=phone_chat.pk).contact_id == merged.pk
    assert Chat.objects.get(pk=lid_chat.pk).contact_id == merged.pk
    assert Chat.objects.count() == 2


def test_link_twins_is_idempotent() -> None:
    device = make_device()
    make_contact(device, phone_jid=PHONE, custom_name="Boss")
    make_contact(device, lid=LID)
    first = Contact.link_twins(device.pk, PHONE, LID)
    second = Contact.link_twins(device.pk, PHONE, LID)
    assert second.pk == first.pk
    second.refresh_from_db()
    assert (second.phone_jid, second.lid, second.custom_name) == (PHONE, LID, "Boss")
    assert Contact.objects.count() == 1


def test_link_twins_keeps_devices_apart() -> None:
    first, second = make_device(), make_device()
    other = make_contact(second, phone_jid=PHONE)
    Contact.link_twins(first.pk, PHONE, LID)
    other.refresh_from_db()
    assert other.lid is None
    assert Contact.objects.filter(device=second).count() == 1


@pytest.mark.parametrize(("phone", "lid"), [
    (LID, PHONE),  # swapped
    (PHONE, OTHER_LID.replace("@lid", "@s.whatsapp.net")),  # two phone JIDs
    (LID, OTHER_LID),  # two LIDs
    ("120363012345678901@g.us", LID),  # groups have no twins
    (PHONE, "120363012345678901@g.us"),
    ("15551234567@c.us", LID),
    ("not a jid", LID),
])
def test_link_twins_rejects_anything_but_a_phone_and_a_lid(phone: str, lid: str) -> None:
    device = make_device()
    with pytest.raises(ValueError):  # noqa: PT011 - the model raises a bare ValueError
        Contact.link_twins(device.pk, phone, lid)
    assert not Contact.objects.exists()


# --- names and keys ---------------------------------------------------------------------------


def test_display_name_precedence() -> None:
    contact = Contact(phone_jid=PHONE, lid=LID, custom_name="Boss", full_name="Robert Smith",
                      push_name="Bob", business_name="Smith Ltd")
    assert contact.display_name == "Boss"
    contact.custom_name = ""
    assert contact.display_name == "Robert Smith"
    contact.full_name = ""
    assert contact.display_name == "Bob"
    contact.push_name = ""
    assert contact.display_name == "Smith Ltd"
    contact.business_name = ""
    assert contact.display_name in (PHONE, LID)


@pytest.mark.parametrize(("phone", "lid", "expected"), [(PHONE, None, PHONE), (None, LID, LID)])
def test_display_name_falls_back_to_the_jid(phone: str | None, lid: str | None, expected: str) -> None:
    assert Contact(phone_jid=phone, lid=lid).display_name == expected


def test_jid_prefers_the_lid() -> None:
    assert Contact(phone_jid=PHONE, lid=LID).jid == LID
    assert Contact(phone_jid=PHONE).jid == PHONE
    assert Contact(lid=LID).jid == LID


def test_addresses_lists_phone_then_lid() -> None:
    assert Contact(phone_jid=PHONE, lid=LID).addresses == [PHONE, LID]
    assert Contact(lid=LID).addresses == [LID]
