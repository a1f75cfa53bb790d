"""Replies decide approvals: the right one (id from the right chat; else newest for the chat or its
twin), only when eligible, first reply wins, and each decision is an ``approval_resolved`` event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import Approval
from approvals.replies import decide_from_message
from tests.factories import connected_device, make_approval, make_inbound
from whatsapp.models import DeviceEvent
from whatsapp.services.ingest import ingest_history, ingest_message, link_identity

ALICE = "15145550101@s.whatsapp.net"
ALICE_LID = "118207457280017@lid"
MALLORY = "15145550199@s.whatsapp.net"
OWN = "15550001111@s.whatsapp.net"

pytestmark = pytest.mark.django_db


@pytest.fixture
def device():
    return connected_device(phone_jid=OWN)


def reply(device, text: str, chat: str = ALICE, **fields) -> Approval | None:
    stored = ingest_message(device, make_inbound(chat, text=text, **fields))
    assert stored is not None
    return decide_from_message(device, stored)


def status(approval: Approval) -> str:
    approval.refresh_from_db()
    return approval.status


def test_approve_from_the_recipient(device) -> None:
    approval = make_approval(device, ALICE)
    assert reply(device, "Yes, go ahead") == approval
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by, approval.response_text) == ("approved", "reply", "Yes, go ahead")
    assert approval.responded_at is not None


def test_deny_from_the_recipient(device) -> None:
    approval = make_approval(device, ALICE)
    reply(device, "no")
    assert status(approval) == "denied"


@pytest.mark.parametrize("text", ["yes or no?", "nobody knows", "let me think"])
def test_undecided_replies_change_nothing(device, text: str) -> None:
    approval = make_approval(device, ALICE)
    assert reply(device, text) is None
    assert status(approval) == "pending"


def test_an_id_quoted_from_the_recipients_chat_decides_that_request(device) -> None:
    older = make_approval(device, ALICE)
    make_approval(device, ALICE)  # newer: would win without the id
    reply(device, f"{older.pk} approve")
    assert status(older) == "approved"


def test_an_id_quoted_by_a_stranger_decides_nothing(device) -> None:
    approval = make_approval(device, ALICE)
    assert reply(device, f"{approval.pk} yes", chat=MALLORY) is None
    assert status(approval) == "pending"


def test_a_quoted_id_no_longer_pending_does_not_fall_through_to_another(device) -> None:
    decided = make_approval(device, ALICE)
    decided.respond(True, "api")
    other = make_approval(device, ALICE)
    assert reply(device, f"{decided.pk} no") is None
    assert status(other) == "pending"


def test_the_newest_pending_request_of_the_chat_is_answered(device) -> None:
    older = make_approval(device, ALICE)
    newer = make_approval(device, ALICE)
    Approval.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(seconds=5))
    reply(device, "yes")
    assert (status(newer), status(older)) == ("approved", "pending")


def test_a_reply_from_the_lid_twin_answers_a_request_sent_to_the_phone(device) -> None:
    link_identity(device, ALICE, ALICE_LID)
    approval = make_approval(device, ALICE)
    reply(device, "✅", chat=ALICE_LID)
    assert status(approval) == "approved"


def test_a_reply_quoting_the_id_from_the_twin_counts(device) -> None:
    link_identity(device, ALICE, ALICE_LID)
    approval = make_approval(device, ALICE)
    reply(device, f"deny {approval.pk}", chat=ALICE_LID)
    assert status(approval) == "denied"


def test_a_stranger_without_an_id_decides_nothing(device) -> None:
    approval = make_approval(device, ALICE)
    assert reply(device, "yes", chat=MALLORY) is None
    assert status(approval) == "pending"


def test_the_first_decisive_reply_wins(device) -> None:
    approval = make_approval(device, ALICE)
    reply(device, "yes")
    assert reply(device, "no") is None
    approval.refresh_from_db()
    assert (approval.status, approval.response_text) == ("approved", "yes")


def test_a_late_reply_after_the_deadline_decides_nothing(device) -> None:
    approval = make_approval(device, ALICE, timeout_seconds=10)
    Approval.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert reply(device, "yes") is None
    assert status(approval) == "pending"  # expiry (beat, or the next read) ends it, never a late reply


def test_old_history_does_not_answer_but_recent_history_does(device) -> None:
    approval = make_approval(device, ALICE)
    ago = timezone.now()
    [old] = ingest_history(device, [make_inbound(ALICE, text="yes", timestamp=ago - timedelta(minutes=5))])
    assert decide_from_message(device, old) is None
    [recent] = ingest_history(device, [make_inbound(ALICE, text="yes", timestamp=ago - timedelta(seconds=30))])
    assert decide_from_message(device, recent) == approval


def test_own_phone_messages_only_answer_requests_addressed_to_ourselves(device) -> None:
    to_alice = make_approval(device, ALICE)
    to_self = make_approval(device, OWN)
    assert reply(device, "yes", chat=ALICE, from_me=True, sender_jid=OWN) is None
    assert status(to_alice) == "pending"
    reply(device, "yes", chat=OWN, from_me=True, sender_jid=OWN)
    assert status(to_self) == "approved"


def test_a_caption_counts_as_the_reply_text(device) -> None:
    approval = make_approval(device, ALICE)
    reply(device, "approved, see the photo", kind="image")
    assert status(approval) == "approved"


def test_a_decision_appends_one_approval_resolved_event(device) -> None:
    approval = make_approval(device, ALICE)
    before = DeviceEvent.objects.filter(device=device, type="approval_resolved").count()
    reply(device, "yes")
    reply(device, "yes again")
    events = list(DeviceEvent.objects.filter(device=device, type="approval_resolved"))[before:]
    assert [(e.payload["request_id"], e.payload["status"], e.payload["source"]) for e in events] == [
        (approval.pk, "approved", "reply")]


def test_a_group_request_is_answered_in_the_group(device) -> None:
    group = "120363041234567890@g.us"
    approval = make_approval(device, group)
    reply(device, "ok", chat=group, sender_jid=ALICE)
    assert status(approval) == "approved"


def test_a_failure_while_matching_never_undoes_the_stored_message(device, monkeypatch) -> None:
    make_approval(device, ALICE)
    stored = ingest_message(device, make_inbound(ALICE, text="yes"))

    def broken(*_: object) -> None:
        raise RuntimeError("matching broke")

    monkeypatch.setattr("approvals.replies.target_of", broken)
    assert decide_from_message(device, stored) is None
    assert type(stored).objects.filter(pk=stored.pk).exists()
