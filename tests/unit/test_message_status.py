"""Message receipts only move forward; own messages are never unread; one row per device and wa_id."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.factories import make_chat, make_device, make_message
from whatsapp.models import DeliveryStatus, Direction, Message

D = DeliveryStatus
ORDER = [D.QUEUED, D.SENT, D.DELIVERED, D.READ]


def outbound(status: str) -> Message:
    return Message(direction=Direction.OUTBOUND, from_me=True, status=status)


@pytest.mark.parametrize("current", ORDER)
@pytest.mark.parametrize("receipt", ORDER)
def test_receipts_only_move_forward(current: str, receipt: str) -> None:
    assert outbound(current).can_advance_to(receipt) is (ORDER.index(receipt) > ORDER.index(current))


def test_read_then_delivered_does_not_go_backwards() -> None:
    message = outbound(D.READ)
    assert not message.can_advance_to(D.DELIVERED)
    assert not message.can_advance_to(D.SENT)


def test_a_receipt_may_skip_steps() -> None:
    assert outbound(D.QUEUED).can_advance_to(D.READ)
    assert outbound(D.SENT).can_advance_to(D.READ)


def test_only_a_queued_message_can_fail() -> None:
    assert outbound(D.QUEUED).can_advance_to(D.FAILED)
    for status in (D.SENT, D.DELIVERED, D.READ):
        assert not outbound(status).can_advance_to(D.FAILED)


@pytest.mark.parametrize("receipt", [*ORDER, D.FAILED])
def test_failed_stays_failed(receipt: str) -> None:
    assert not outbound(D.FAILED).can_advance_to(receipt)


def test_unknown_status_is_not_an_advance() -> None:
    assert not outbound(D.QUEUED).can_advance_to("played")
    assert not outbound(D.QUEUED).can_advance_to("")


def test_message_without_status_takes_its_first_receipt() -> None:
    message = Message(direction=Direction.OUTBOUND, from_me=True, status="")
    assert message.can_advance_to(D.SENT)


def test_incoming_message_is_unread_until_marked_read() -> None:
    message = Message(direction=Direction.INBOUND, from_me=False)
    assert message.is_unread
    message.read_at = timezone.now()
    assert not message.is_unread


def test_own_messages_are_never_unread() -> None:
    assert not Message(direction=Direction.OUTBOUND, from_me=True).is_unread
    # typed on the user's phone and synced to us as an incoming event
    assert not Message(direction=Direction.INBOUND, from_me=True).is_unread


def test_history_messages_are_never_unread() -> None:
    """As ingest counts them: history sync brings the past, not news."""
    assert not Message(direction=Direction.INBOUND, from_me=False, from_history=True).is_unread


@pytest.mark.django_db
def test_wa_id_is_unique_per_device() -> None:
    device = make_device()
    chat = make_chat(device)
    make_message(device, chat, wa_id="3EB0ABC")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_message(device, chat, wa_id="3EB0ABC")
    assert Message.objects.filter(device=device, wa_id="3EB0ABC").count() == 1


@pytest.mark.django_db
def test_same_wa_id_on_another_device_is_fine() -> None:
    first, second = make_device(), make_device()
    make_message(first, wa_id="3EB0ABC")
    make_message(second, wa_id="3EB0ABC")
    assert Message.objects.filter(wa_id="3EB0ABC").count() == 2
