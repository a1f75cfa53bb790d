"""catch_up (reference/mcp-tools.md §2.8, §3.2, §1.13; §4 "midnight rendered as 24:00:00",
"catch_up under-reported"): the window, active chats, the true unread total, highlights, questions
and pending approvals, all whitelisted, nothing marked read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from approvals.models import ApprovalStatus
from tests.factories import make_approval, make_chat, make_contact, make_device, make_message
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, Contact, Device, Direction, Message, MessageType
from whatsapp.services.digest import catch_up, window_start
from whatsapp.services.policies import Whitelist

pytestmark = pytest.mark.django_db

ALICE = "15551234567@s.whatsapp.net"
ALICE_LID = "123456789012345@lid"
BOB = "15557654321@s.whatsapp.net"
CAROL = "15550001234@s.whatsapp.net"
GROUP = "120363041234567890@g.us"
NOW = datetime(2024, 6, 12, 15, 0, tzinfo=UTC)
EVERYTHING = Whitelist()


def ago(**delta) -> datetime:
    return NOW - timedelta(**delta)


def chat(device: Device, jid: str, *, last: datetime | None = None, **fields) -> Chat:
    return make_chat(device, jid, last_message_at=last, **fields)


def inbound(device: Device, where: Chat, at: datetime, body: str = "hello", **fields) -> Message:
    fields.setdefault("sender_jid", where.jid)
    return make_message(device, where, timestamp=at, body=body, **fields)


# --- the window -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("since", "delta"), [("1h", timedelta(hours=1)), ("4h", timedelta(hours=4)),
                                              ("24h", timedelta(hours=24)), ("this_week", timedelta(days=7))])
def test_rolling_windows(since: str, delta: timedelta) -> None:
    assert window_start(since, NOW) == NOW - delta


@pytest.mark.parametrize("since", ["", "week", "2h", "TODAY", None])
def test_an_unknown_window_is_a_validation_error(since: object) -> None:
    with pytest.raises(WhatsAppError) as caught:
        catch_up(make_device(), since, now=NOW)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert caught.value.details["field"] == "since"


def test_today_starts_at_utc_midnight_by_default(settings) -> None:
    settings.TIME_ZONE = "UTC"
    digest = catch_up(make_device(), now=NOW)
    assert digest.since == "today"
    assert digest.zone == "UTC"
    assert digest.start == datetime(2024, 6, 12, tzinfo=UTC)
    assert digest.end == NOW == digest.generated_at


def test_today_starts_at_local_midnight_and_renders_as_00_00_00(settings) -> None:
    settings.TIME_ZONE = "America/Toronto"
    now = datetime(2024, 6, 12, 3, 30, tzinfo=UTC)  # 23:30 on the 11th in Toronto (EDT, UTC-4)
    digest = catch_up(make_device(), "today", now=now)
    assert digest.zone == "America/Toronto"
    assert digest.start.strftime("%Y-%m-%d %H:%M:%S") == "2024-06-11 00:00:00"
    assert digest.start == datetime(2024, 6, 11, 4, 0, tzinfo=UTC)
    assert digest.end.strftime("%Y-%m-%d %H:%M:%S") == "2024-06-11 23:30:00"


def test_just_after_midnight_today_is_the_new_day(settings) -> None:
    settings.TIME_ZONE = "America/Toronto"
    now = datetime(2024, 6, 12, 4, 0, 30, tzinfo=UTC)  # 00:00:30 local
    assert window_start("today", now).strftime("%Y-%m-%d %H:%M:%S") == "2024-06-12 00:00:00"


def test_today_on_the_spring_forward_day(settings) -> None:
    """2024-03-10 in Toronto: clocks jump 02:00 EST → 03:00 EDT, so at noon only 11 hours have passed
    since midnight; naive arithmetic (noon minus 12 h) would start the day at 23:00 the day before."""
    settings.TIME_ZONE = "America/Toronto"
    device = make_device()
    now = datetime(2024, 3, 10, 16, 0, tzinfo=UTC)  # 12:00 EDT
    where = chat(device, ALICE, last=now - timedelta(hours=1))
    inbound(device, where, datetime(2024, 3, 10, 4, 30, tzinfo=UTC))  # 23:30 EST on the 9th
    inbound(device, where, datetime(2024, 3, 10, 5, 30, tzinfo=UTC))  # 00:30 EST on the 10th
    digest = catch_up(device, "today", now=now, allowed=EVERYTHING)
    assert digest.start == datetime(2024, 3, 10, 5, 0, tzinfo=UTC)
    assert digest.start.strftime("%H:%M:%S %Z") == "00:00:00 EST"
    assert now - digest.start == timedelta(hours=11)
    assert digest.unread_total == 1


def test_today_on_the_fall_back_day(settings) -> None:
    settings.TIME_ZONE = "America/Toronto"
    now = datetime(2024, 11, 3, 17, 0, tzinfo=UTC)  # 12:00 EST, after 02:00 EDT → 01:00 EST
    start = window_start("today", now)
    assert start == datetime(2024, 11, 3, 4, 0, tzinfo=UTC)  # midnight EDT
    assert now - start == timedelta(hours=13)


def test_a_midnight_that_does_not_exist_starts_the_day_at_its_first_instant(settings) -> None:
    settings.TIME_ZONE = "America/Havana"  # 2024-03-10: 00:00 CST → 01:00 CDT
    start = window_start("today", datetime(2024, 3, 10, 15, 0, tzinfo=UTC))
    assert start == datetime(2024, 3, 10, 5, 0, tzinfo=UTC)
    assert start.strftime("%H:%M:%S") == "01:00:00"


# --- active chats -------------------------------------------------------------------------------------------


def test_active_chats_newest_first_with_unread_and_window_counts(settings) -> None:
    settings.TIME_ZONE = "UTC"
    device = make_device()
    alice = chat(device, ALICE, last=ago(minutes=5), name="Alice")
    bob = chat(device, BOB, last=ago(minutes=30), name="Bob")
    chat(device, CAROL, last=ago(days=2), name="Carol")  # before the window
    inbound(device, alice, ago(minutes=5))
    inbound(device, alice, ago(minutes=6), read_at=NOW)
    inbound(device, alice, ago(days=3))  # unread, but before the window
    inbound(device, bob, ago(minutes=30), direction=Direction.OUTBOUND, from_me=True)
    digest = catch_up(device, "4h", now=NOW, allowed=EVERYTHING)
    assert [(c.name, c.unread, c.window_messages) for c in digest.active_chats] == [("Alice", 2, 2), ("Bob", 0, 1)]


def test_at_most_twenty_active_chats() -> None:
    device = make_device()
    for n in range(25):
        chat(device, f"1555000{n:04d}@s.whatsapp.net", last=ago(minutes=n))
    digest = catch_up(device, "1h", now=NOW, allowed=EVERYTHING)
    assert len(digest.active_chats) == 20
    assert digest.active_chats[0].jid == "15550000000@s.whatsapp.net"


def test_twins_are_one_active_chat_and_one_unread_chat() -> None:
    device = make_device()
    contact = Contact.link_twins(device.pk, ALICE, ALICE_LID)
    by_phone = chat(device, ALICE, last=ago(minutes=20), contact=contact)
    by_lid = chat(device, ALICE_LID, last=ago(minutes=10), contact=contact)
    inbound(device, by_phone, ago(minutes=20))
    inbound(device, by_lid, ago(minutes=10))
    digest = catch_up(device, "1h", now=NOW, allowed=EVERYTHING)
    [active] = digest.active_chats
    assert (active.jid, active.unread, active.window_messages) == (ALICE_LID, 2, 2)
    assert (digest.unread_total, digest.unread_chats) == (2, 1)
    assert {h.chat_jid for h in digest.highlights} == {ALICE_LID}


# --- unread, highlights, questions ----------------------------------------------------------------------


def test_the_unread_total_is_true_not_capped() -> None:
    device = make_device()
    alice, bob = chat(device, ALICE, last=ago(minutes=1)), chat(device, BOB, last=ago(minutes=1))
    for n in range(60):
        inbound(device, alice if n % 2 else bob, ago(minutes=n + 1))
    digest = catch_up(device, "24h", now=NOW, allowed=EVERYTHING)
    assert (digest.unread_total, digest.unread_chats) == (60, 2)


def test_only_unread_incoming_messages_in_the_window_count() -> None:
    device = make_device()
    where = chat(device, ALICE, last=ago(minutes=1))
    inbound(device, where, ago(minutes=1))  # counts
    inbound(device, where, ago(minutes=2), read_at=NOW)
    inbound(device, where, ago(minutes=3), from_history=True)
    inbound(device, where, ago(minutes=4), direction=Direction.OUTBOUND, from_me=True)
    inbound(device, where, ago(minutes=5), from_me=True)  # ours, from the phone
    inbound(device, where, ago(hours=2))  # before the window
    inbound(device, where, NOW + timedelta(minutes=1))  # after it
    digest = catch_up(device, "1h", now=NOW, allowed=EVERYTHING)
    assert digest.unread_total == 1


def test_highlights_are_the_five_newest_with_clipped_bodies_and_media() -> None:
    device = make_device()
    make_contact(device, phone_jid=ALICE, custom_name="Alice")
    alice = chat(device, ALICE, last=ago(minutes=1))
    group = chat(device, GROUP, last=ago(minutes=1), name="Family")
    inbound(device, alice, ago(minutes=1), body="x" * 300)
    inbound(device, alice, ago(minutes=2), body="", type=MessageType.IMAGE)
    inbound(device, group, ago(minutes=3), sender_jid=BOB, sender_name="Bobby")
    inbound(device, group, ago(minutes=4), sender_jid=CAROL)
    inbound(device, group, ago(minutes=5), sender_jid=ALICE)
    inbound(device, group, ago(minutes=6))  # the sixth: not a highlight
    digest = catch_up(device, "1h", now=NOW, allowed=EVERYTHING)
    first, image, bob, carol, alice_in_group = digest.highlights
    assert len(first.body) == 100
    assert (first.chat_name, first.sender_name, first.timestamp) == ("Alice", "Alice", ago(minutes=1))
    assert (image.body, image.kind, image.has_media) == ("", "image", True)
    assert (bob.chat_name, bob.sender_name, bob.sender_jid) == ("Family", "Bobby", BOB)
    assert carol.sender_name == "+15550001234"
    assert alice_in_group.sender_name == "Alice"
    assert digest.unread_total == 6


def test_questions_are_the_ten_newest_unread_asking_something() -> None:
    device = make_device()
    where = chat(device, ALICE, last=ago(minutes=1))
    for n in range(12):
        inbound(device, where, ago(minutes=n + 1), body=f"question {n}? " + "y" * 200)
    inbound(device, where, ago(seconds=30), body="no question here")
    inbound(device, where, ago(seconds=20), body="already read?", read_at=NOW)
    digest = catch_up(device, "1h", now=NOW, allowed=EVERYTHING)
    assert len(digest.questions) == 10
    assert digest.questions[0].body.startswith("question 0?")
    assert all(len(q.body) == 120 for q in digest.questions)
    assert digest.unread_total == 13


def test_nothing_is_marked_read() -> None:
    device = make_device()
    where = chat(device, ALICE, last=ago(minutes=1))
    inbound(device, where, ago(minutes=1), body="still unread?")
    catch_up(device, "1h", now=NOW, allowed=EVERYTHING)
    assert Message.objects.filter(read_at__isnull=True).count() == 1


# --- the whitelist ------------------------------------------------------------------------------------------


def test_disallowed_chats_are_left_out_everywhere() -> None:
    device = make_device()
    Device.objects.filter(pk=device.pk).update(allowed_contacts="+15551234567")
    device.refresh_from_db()
    alice, bob = chat(device, ALICE, last=ago(minutes=2)), chat(device, BOB, last=ago(minutes=1))
    inbound(device, alice, ago(minutes=2), body="from alice?")
    inbound(device, bob, ago(minutes=1), body="from bob?")
    make_approval(device, BOB)
    digest = catch_up(device, "1h", now=NOW)  # the device's whitelist by default
    assert [c.jid for c in digest.active_chats] == [ALICE]
    assert (digest.unread_total, digest.unread_chats) == (1, 1)
    assert [h.chat_jid for h in digest.highlights] == [ALICE]
    assert [q.chat_jid for q in digest.questions] == [ALICE]
    assert digest.approvals == []


# --- pending approvals -----------------------------------------------------------------------------------------


def test_pending_approvals_include_recipients_without_a_chat() -> None:
    device = make_device()
    now = timezone.now()
    make_contact(device, phone_jid=CAROL, custom_name="Carol")
    newer = make_approval(device, CAROL, action="Deploy", timeout_seconds=600,
                          created_at=now - timedelta(seconds=60))
    older = make_approval(device, "15559990000@s.whatsapp.net", action="Restart",
                          created_at=now - timedelta(seconds=90))
    make_approval(device, CAROL, action="Done", status=ApprovalStatus.APPROVED)
    digest = catch_up(device, "1h", now=now, allowed=Whitelist.parse("+15550001234,+15559990000"))
    assert [(a.id, a.action, a.recipient_name) for a in digest.approvals] == [
        (newer.pk, "Deploy", "Carol"), (older.pk, "Restart", "15559990000@s.whatsapp.net")]
    assert digest.approvals[0].seconds_left == 540
    assert digest.approvals[1].seconds_left == 210
    assert digest.approvals[0].created_at == newer.created_at


def test_overdue_approvals_are_expired_first() -> None:
    device = make_device()
    overdue = make_approval(device, ALICE, timeout_seconds=10, created_at=timezone.now() - timedelta(minutes=5))
    assert catch_up(device, "1h", allowed=EVERYTHING).approvals == []
    overdue.refresh_from_db()
    assert overdue.status == ApprovalStatus.EXPIRED


def test_an_approval_to_an_allowed_lid_passes_through_its_phone_twin() -> None:
    device = make_device()
    Contact.link_twins(device.pk, ALICE, ALICE_LID)
    make_approval(device, ALICE_LID)
    digest = catch_up(device, "1h", allowed=Whitelist.parse("+15551234567"))
    assert [a.recipient_jid for a in digest.approvals] == [ALICE_LID]


def test_an_empty_store_gives_empty_sections() -> None:
    digest = catch_up(make_device(), "this_week", now=NOW)
    assert (digest.active_chats, digest.unread_total, digest.unread_chats, digest.highlights, digest.questions,
            digest.approvals) == ([], 0, 0, [], [], [])


def test_the_digest_costs_a_bounded_number_of_queries(django_assert_max_num_queries) -> None:
    device = make_device()
    for n in range(30):
        phone, lid = f"155500000{n:02d}@s.whatsapp.net", f"1000000000000{n:02d}@lid"
        contact = Contact.link_twins(device.pk, phone, lid)
        where = chat(device, lid, last=ago(minutes=n), contact=contact)
        inbound(device, where, ago(minutes=n), body="anything new?")
        make_approval(device, phone)
    device = Device.objects.get(pk=device.pk)
    with django_assert_max_num_queries(15):
        digest = catch_up(device, "1h", now=NOW, allowed=Whitelist.parse("+15550000001,+15550000002"))
    assert (digest.unread_total, len(digest.questions), len(digest.approvals)) == (2, 2, 2)
