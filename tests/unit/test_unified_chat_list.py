"""The unified chat list (reference/mcp-tools.md, Terms and §2.7): twins merged under the LID (else
the phone JID), counts summed and derived from message state, groups never merged, newest first,
whitelist and filter before paging, and a bounded number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_chat, make_contact, make_device, make_message
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, Contact, Device, Direction
from whatsapp.services.directory import page, unified_chats
from whatsapp.services.policies import Whitelist

pytestmark = pytest.mark.django_db

PHONE = "15551234567@s.whatsapp.net"
LID = "123456789012345@lid"
BOB = "15557654321@s.whatsapp.net"
GROUP = "120363041234567890@g.us"
OTHER_GROUP = "120363052345678901@g.us"
NOW = timezone.now()


def ago(**delta) -> timezone.datetime:
    return NOW - timedelta(**delta)


def twin_chats(device: Device) -> tuple[Chat, Chat]:
    contact = Contact.link_twins(device.pk, PHONE, LID)
    contact.push_name = "Alice"
    contact.save()
    by_phone = make_chat(device, PHONE, contact=contact, last_message_at=ago(hours=3), last_message_preview="old")
    by_lid = make_chat(device, LID, contact=contact, last_message_at=ago(minutes=5), last_message_preview="new one")
    return by_phone, by_lid


def unread(device: Device, chat: Chat, n: int = 1, **fields) -> None:
    for _ in range(n):
        make_message(device, chat, **fields)


# --- merging twins --------------------------------------------------------------------------------


def test_twins_are_one_entry_keyed_by_the_lid() -> None:
    device = make_device()
    by_phone, by_lid = twin_chats(device)
    unread(device, by_phone, 2, timestamp=ago(hours=3))
    unread(device, by_lid, 3, timestamp=ago(minutes=5))
    [entry] = unified_chats(device, now=NOW)
    assert entry.jid == LID
    assert entry.kind == "direct"
    assert entry.name == "Alice"
    assert entry.twins == [PHONE, LID]
    assert entry.phone == "15551234567"
    assert entry.unread == 5
    assert entry.message_count == 5
    assert entry.last_message_at == by_lid.last_message_at
    assert entry.preview == "new one"
    assert sorted(entry.chat_ids) == sorted([by_phone.pk, by_lid.pk])


def test_the_newest_preview_wins_whichever_twin_holds_it() -> None:
    device = make_device()
    by_phone, _ = twin_chats(device)
    Chat.objects.filter(pk=by_phone.pk).update(last_message_at=NOW, last_message_preview="phone is newer")
    [entry] = unified_chats(device, now=NOW)
    assert entry.preview == "phone is newer"
    assert entry.last_message_at == NOW


def test_a_person_without_a_known_lid_is_keyed_by_the_phone_jid() -> None:
    device = make_device()
    contact = make_contact(device, phone_jid=BOB)
    make_chat(device, BOB, contact=contact)
    [entry] = unified_chats(device)
    assert entry.jid == BOB
    assert entry.twins == [BOB]


def test_a_known_lid_keys_the_entry_even_without_a_lid_chat() -> None:
    device = make_device()
    contact = Contact.link_twins(device.pk, PHONE, LID)
    make_chat(device, PHONE, contact=contact)
    [entry] = unified_chats(device)
    assert entry.jid == LID
    assert entry.twins == [PHONE, LID]


def test_a_chat_without_a_contact_link_still_merges_with_its_twin() -> None:
    device = make_device()
    Contact.link_twins(device.pk, PHONE, LID)
    make_chat(device, PHONE)  # contact not set on the row
    make_chat(device, LID)
    assert [entry.jid for entry in unified_chats(device)] == [LID]


def test_groups_are_never_merged() -> None:
    device = make_device()
    make_chat(device, GROUP, name="Family", last_message_at=ago(minutes=1))
    make_chat(device, OTHER_GROUP, name="Family", last_message_at=ago(minutes=2))
    entries = unified_chats(device)
    assert [(e.jid, e.kind, e.twins, e.phone) for e in entries] == [
        (GROUP, "group", [GROUP], None), (OTHER_GROUP, "group", [OTHER_GROUP], None)]


# --- counts -----------------------------------------------------------------------------------------


def test_unread_counts_derive_from_messages_not_the_stored_counter() -> None:
    device = make_device()
    chat = make_chat(device, BOB, unread_count=99)  # a stale counter
    unread(device, chat, 1)  # unread incoming
    unread(device, chat, 1, read_at=NOW)  # marked read
    unread(device, chat, 1, from_history=True)  # history sync: never unread
    unread(device, chat, 1, direction=Direction.OUTBOUND, from_me=True)  # ours, from here
    unread(device, chat, 1, direction=Direction.INBOUND, from_me=True)  # ours, from the phone
    [entry] = unified_chats(device)
    assert entry.unread == 1
    assert entry.message_count == 5


def test_messages_in_the_last_hour() -> None:
    device = make_device()
    chat = make_chat(device, BOB)
    unread(device, chat, 2, timestamp=ago(minutes=30))
    unread(device, chat, 3, timestamp=ago(hours=2))
    [entry] = unified_chats(device, now=NOW)
    assert entry.messages_last_hour == 2
    assert entry.message_count == 5


def test_a_chat_without_messages_counts_zero() -> None:
    device = make_device()
    make_chat(device, BOB)
    [entry] = unified_chats(device)
    assert (entry.unread, entry.message_count, entry.messages_last_hour, entry.last_message_at) == (0, 0, 0, None)


def test_the_preview_is_at_most_60_characters() -> None:
    device = make_device()
    make_chat(device, BOB, last_message_at=NOW, last_message_preview="x" * 120)
    [entry] = unified_chats(device)
    assert len(entry.preview) == 60
    assert entry.preview.endswith("…")


# --- order, filters, whitelist, paging --------------------------------------------------------------


def test_newest_activity_first_and_never_active_last() -> None:
    device = make_device()
    make_chat(device, "15550000001@s.whatsapp.net")
    make_chat(device, "15550000002@s.whatsapp.net", last_message_at=ago(days=2))
    make_chat(device, "15550000003@s.whatsapp.net", last_message_at=ago(minutes=1))
    make_chat(device, GROUP, last_message_at=ago(hours=1))
    assert [e.jid for e in unified_chats(device)] == [
        "15550000003@s.whatsapp.net", GROUP, "15550000002@s.whatsapp.net", "15550000001@s.whatsapp.net"]


def test_groups_only() -> None:
    device = make_device()
    make_chat(device, BOB)
    make_chat(device, GROUP, name="Family")
    assert [e.jid for e in unified_chats(device, groups_only=True)] == [GROUP]


def test_the_name_filter_is_a_case_insensitive_substring_of_the_display_name() -> None:
    device = make_device()
    make_contact(device, phone_jid=BOB, custom_name="Bob Builder")
    make_chat(device, BOB, name="ignored: the custom name wins")
    make_chat(device, GROUP, name="Family")
    assert [e.jid for e in unified_chats(device, name_filter=" bUILD ")] == [BOB]
    assert unified_chats(device, name_filter="ignored") == []
    assert len(unified_chats(device, name_filter="")) == 2


def test_the_whitelist_drops_chats_before_paging() -> None:
    device = make_device()
    allowed = Whitelist.parse(f"+15551234567,{GROUP}")
    for n in range(5):  # newer, disallowed chats
        make_chat(device, f"1555999{n:04d}@s.whatsapp.net", last_message_at=ago(minutes=n))
    make_chat(device, PHONE, last_message_at=ago(hours=1))
    make_chat(device, GROUP, last_message_at=ago(hours=2))
    make_chat(device, OTHER_GROUP, last_message_at=ago(hours=3))
    entries = unified_chats(device, allowed=allowed)
    assert [e.jid for e in page(entries, 2, 0)] == [PHONE, GROUP]


def test_a_lid_whose_phone_twin_is_allowed_passes() -> None:
    device = make_device()
    twin_chats(device)
    [entry] = unified_chats(device, allowed=Whitelist.parse("+15551234567"))
    assert entry.jid == LID
    assert len(entry.chat_ids) == 2


def test_the_devices_whitelist_applies_by_default() -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(allowed_contacts="+15557654321")
    device.refresh_from_db()
    make_chat(device, BOB)
    make_chat(device, PHONE)
    assert [e.jid for e in unified_chats(device)] == [BOB]
    assert len(unified_chats(device, allowed=Whitelist())) == 2


def test_pages() -> None:
    entries = list(range(7))
    assert page(entries, 3, 0) == [0, 1, 2]
    assert page(entries, 3, 2) == [6]
    assert page(entries, 3, 5) == []


@pytest.mark.parametrize(("limit", "number"), [(0, 0), (-1, 0), (3, -1), (True, 0)])
def test_bad_paging_is_a_validation_error(limit: int, number: int) -> None:
    with pytest.raises(WhatsAppError) as caught:
        page([], limit, number)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR


def test_the_list_of_fifty_chats_costs_a_handful_of_queries(django_assert_max_num_queries) -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(allowed_contacts="+15550000001,+15550000002")
    for n in range(50):
        phone, lid = f"155500000{n:02d}@s.whatsapp.net", f"1000000000000{n:02d}@lid"
        contact = Contact.link_twins(device.pk, phone, lid)
        for jid in (phone, lid):
            chat = make_chat(device, jid, contact=contact, last_message_at=ago(minutes=n))
            unread(device, chat, 2)
        make_chat(device, f"1203630000000000{n:02d}@g.us", name=f"Group {n}")
    device = Device.objects.get(pk=device.pk)
    with django_assert_max_num_queries(6):
        everything = unified_chats(device, allowed=Whitelist())
    assert len(everything) == 100
    with django_assert_max_num_queries(7):  # + the app's whitelist, the allowed chats and their twins
        allowed = unified_chats(device)
    assert len(allowed) == 2
    assert all(entry.unread == 4 for entry in allowed)
