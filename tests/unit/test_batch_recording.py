"""Recording in batches: each row keeps its own values, however many are written at once.

The runner records a claimed batch of sends in one transaction (``update_each``) and a run of
receipts in one read and a few UPDATEs (``ingest_receipts``); these check that nothing is mixed up
between the rows of a batch and that the number of statements does not grow with the batch.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import make_chat, make_device, make_message, make_outbound, make_receipt
from whatsapp.engine.base import ReceiptStatus
from whatsapp.models import (
    CommandKind,
    CommandState,
    DeliveryStatus,
    DeviceCommand,
    DeviceEvent,
    Direction,
    EventType,
    Message,
)
from whatsapp.models.bulk import update_each
from whatsapp.services.ingest import ingest_receipts

pytestmark = pytest.mark.django_db

PHONE = "15551234567@s.whatsapp.net"


# --- update_each ------------------------------------------------------------------------------


def test_update_each_writes_every_rows_own_values() -> None:
    device = make_device()
    base = timezone.now().replace(microsecond=0)
    messages = [make_outbound(device, f"M{i}", DeliveryStatus.QUEUED) for i in range(5)]
    for i, message in enumerate(messages):
        message.status = DeliveryStatus.FAILED if i == 2 else DeliveryStatus.SENT
        message.error_code = "MESSAGE_SEND_FAILED" if i == 2 else ""
        message.sent_at = None if i == 2 else base + timedelta(seconds=i)
    assert update_each(messages, ["status", "error_code", "sent_at"]) == 5
    stored = {m.wa_id: m for m in Message.objects.filter(device=device)}
    for i in range(5):
        row = stored[f"M{i}"]
        if i == 2:
            assert (row.status, row.error_code, row.sent_at) == (DeliveryStatus.FAILED, "MESSAGE_SEND_FAILED", None)
        else:
            assert (row.status, row.error_code, row.sent_at) == (DeliveryStatus.SENT, "", base + timedelta(seconds=i))


def test_update_each_encodes_json_and_leaves_other_rows_and_fields_alone() -> None:
    device = make_device()
    commands = [DeviceCommand.enqueue(device.pk, CommandKind.SEND, {"to": f"n{i}"}) for i in range(3)]
    untouched = DeviceCommand.enqueue(device.pk, CommandKind.SEND, {"to": "other"})
    when = timezone.now()
    for i, command in enumerate(commands):
        command.state, command.result, command.finished_at = CommandState.DONE, {"n": i, "at": when}, when
        command.payload = {"changed": True}  # not among the fields written
    update_each(commands, ["state", "result", "finished_at"])
    for i, command in enumerate(commands):
        command.refresh_from_db()
        assert command.state == CommandState.DONE
        assert command.result == {"n": i, "at": DjangoJSONEncoder().default(when)}  # the field's own encoder
        assert command.payload == {"to": f"n{i}"}
    untouched.refresh_from_db()
    assert (untouched.state, untouched.result) == (CommandState.PENDING, {})


def test_update_each_is_one_statement_for_a_batch() -> None:
    device = make_device()
    messages = [make_outbound(device, f"M{i}") for i in range(40)]
    for message in messages:
        message.status = DeliveryStatus.DELIVERED
    with CaptureQueriesContext(connection) as queries:
        update_each(messages, ["status"])
    assert len(queries) == 1


def test_update_each_of_nothing_writes_nothing() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert update_each([], ["status"]) == 0
    assert len(queries) == 0


# --- ingest_receipts --------------------------------------------------------------------------


def test_a_run_of_receipts_moves_each_message_to_its_own_status() -> None:
    device = make_device()
    early, late = timezone.now() - timedelta(seconds=5), timezone.now()
    a, b, c = make_outbound(device, "A"), make_outbound(device, "B"), make_outbound(device, "C", DeliveryStatus.READ)
    changed = ingest_receipts(device, [
        make_receipt(ReceiptStatus.DELIVERED, "A", "B", "C", at=early),
        make_receipt(ReceiptStatus.READ, "A", at=late),
    ])
    assert changed == 3  # A delivered, B delivered, A read; C was read already
    for message in (a, b, c):
        message.refresh_from_db()
    assert (a.status, a.delivered_at, a.read_at) == (DeliveryStatus.READ, early, late)
    assert (b.status, b.delivered_at, b.read_at) == (DeliveryStatus.DELIVERED, early, None)
    assert (c.status, c.delivered_at) == (DeliveryStatus.READ, None)


def test_a_run_of_receipts_never_moves_a_message_backwards() -> None:
    device = make_device()
    message = make_outbound(device, "A")
    ingest_receipts(device, [make_receipt(ReceiptStatus.READ, "A"), make_receipt(ReceiptStatus.DELIVERED, "A")])
    message.refresh_from_db()
    assert message.status == DeliveryStatus.READ
    assert message.delivered_at is None


def test_each_receipt_of_a_run_is_its_own_event_in_order() -> None:
    device = make_device()
    make_outbound(device, "A"), make_outbound(device, "B")
    ingest_receipts(device, [
        make_receipt(ReceiptStatus.DELIVERED, "A", "B"),
        make_receipt(ReceiptStatus.DELIVERED, "A"),  # changes nothing: no event
        make_receipt(ReceiptStatus.READ, "B"),
    ])
    stored = list(DeviceEvent.objects.filter(device=device, type=EventType.RECEIPT).order_by("sequence"))
    assert [(e.payload["status"], e.payload["message_ids"]) for e in stored] == [
        ("delivered", ["A", "B"]), ("read", ["B"])]
    assert [e.sequence for e in stored] == [stored[0].sequence, stored[0].sequence + 1]


def test_receipts_for_inbound_or_unknown_messages_change_nothing() -> None:
    device = make_device()
    chat = make_chat(device, PHONE)
    make_message(device, chat, wa_id="IN", direction=Direction.INBOUND)
    assert ingest_receipts(device, [make_receipt(ReceiptStatus.READ, "IN", "NOPE")]) == 0
    assert not DeviceEvent.objects.filter(device=device, type=EventType.RECEIPT).exists()


def test_the_statements_of_a_receipt_run_do_not_grow_with_its_length() -> None:
    def statements(count: int) -> int:
        device = make_device()
        ids = [f"M{i}" for i in range(count)]
        for wa_id in ids:
            make_outbound(device, wa_id)
        run = [make_receipt(ReceiptStatus.DELIVERED, wa_id) for wa_id in ids]
        run += [make_receipt(ReceiptStatus.READ, wa_id) for wa_id in ids[: count // 2]]
        with CaptureQueriesContext(connection) as queries:
            ingest_receipts(device, run)
        return len(queries)

    assert statements(3) == statements(60)
