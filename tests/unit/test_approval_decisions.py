"""Approvals: id format, timeout bounds, first decision wins, expiry on time, one event per resolution."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest

from approvals.models import Approval, ApprovalStatus, DecisionSource, new_approval_id
from tests.factories import make_approval, make_device
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import DeviceEvent, EventType

ID_FORMAT = re.compile(r"^approval_(\d+)_([0-9a-z]{7})$")
CREATED = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


@contextmanager
def at(moment: datetime):
    """Run with ``django.utils.timezone.now`` returning ``moment``."""
    with patch("django.utils.timezone.now", return_value=moment):
        yield


def approval(timeout: int = 60, **fields) -> Approval:
    return make_approval(make_device(), timeout_seconds=timeout, created_at=CREATED, **fields)


def resolved_events(item: Approval) -> list[DeviceEvent]:
    return list(DeviceEvent.objects.filter(device_id=item.device_id, type=EventType.APPROVAL_RESOLVED))


def stored(item: Approval) -> Approval:
    return Approval.objects.get(pk=item.pk)


BEFORE_DEADLINE = CREATED + timedelta(seconds=30)
AFTER_DEADLINE = CREATED + timedelta(seconds=61)


# --- ids and timeouts -------------------------------------------------------------------------


def test_id_is_approval_epoch_ms_and_seven_base36_chars() -> None:
    before = int(time.time() * 1000)
    ident = new_approval_id()
    after = int(time.time() * 1000)
    match = ID_FORMAT.match(ident)
    assert match, ident
    assert before <= int(match[1]) <= after


def test_ids_differ() -> None:
    assert len({new_approval_id() for _ in range(50)}) == 50


@pytest.mark.django_db
def test_new_approval_gets_an_id_in_that_format() -> None:
    assert ID_FORMAT.match(make_approval(make_device()).pk)


@pytest.mark.parametrize("value", [10, 300, 3600])
def test_timeout_within_bounds_is_accepted(value: int) -> None:
    assert Approval.validate_timeout(value) == value


@pytest.mark.parametrize("value", [9, 3601, 0, -10, "300", True, False, None, 300j, float("nan")])
def test_timeout_out_of_bounds_or_not_a_number_is_refused(value: object) -> None:
    with pytest.raises(WhatsAppError) as excinfo:
        Approval.validate_timeout(value)
    assert excinfo.value.code is ErrorCode.APPROVAL_INVALID_TIMEOUT
    assert excinfo.value.details["field"] == "timeout"


@pytest.mark.django_db
def test_expires_at_is_created_plus_timeout() -> None:
    item = approval(timeout=120)
    assert stored(item).expires_at == CREATED + timedelta(seconds=120)


@pytest.mark.django_db
def test_new_approval_is_pending() -> None:
    item = stored(approval())
    assert item.status == ApprovalStatus.PENDING
    assert item.responded_at is None
    assert item.decided_by == ""
    assert resolved_events(item) == []


# --- responding -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("approved", "status"), [(True, ApprovalStatus.APPROVED), (False, ApprovalStatus.DENIED)])
def test_respond_decides_a_pending_approval(approved: bool, status: str) -> None:
    item = approval()
    with at(BEFORE_DEADLINE):
        item.respond(approved, DecisionSource.REPLY, text="Yes, go ahead")
    item = stored(item)
    assert item.status == status
    assert item.decided_by == DecisionSource.REPLY
    assert item.response_text == "Yes, go ahead"
    assert item.responded_at == BEFORE_DEADLINE


@pytest.mark.django_db
def test_operator_decision_records_the_user() -> None:
    item = approval()
    with at(BEFORE_DEADLINE):
        item.respond(False, DecisionSource.OPERATOR, user="alice")
    item = stored(item)
    assert (item.status, item.decided_by, item.decided_by_user) == (ApprovalStatus.DENIED, "operator", "alice")


@pytest.mark.django_db
def test_second_respond_is_already_responded_and_changes_nothing() -> None:
    item = approval()
    with at(BEFORE_DEADLINE):
        item.respond(True, DecisionSource.REPLY, text="yes")
    with at(BEFORE_DEADLINE + timedelta(seconds=1)), pytest.raises(WhatsAppError) as excinfo:
        item.respond(False, DecisionSource.API)
    assert excinfo.value.code is ErrorCode.APPROVAL_ALREADY_RESPONDED
    item = stored(item)
    assert (item.status, item.decided_by, item.response_text) == (ApprovalStatus.APPROVED, "reply", "yes")
    assert item.responded_at == BEFORE_DEADLINE
    assert len(resolved_events(item)) == 1


@pytest.mark.django_db
def test_first_decision_wins_across_stale_instances() -> None:
    item = approval()
    stale = Approval.objects.get(pk=item.pk)
    with at(BEFORE_DEADLINE):
        item.respond(False, DecisionSource.REPLY, text="no")
        with pytest.raises(WhatsAppError) as excinfo:
            stale.respond(True, DecisionSource.OPERATOR, user="alice")
    assert excinfo.value.code is ErrorCode.APPROVAL_ALREADY_RESPONDED
    assert stored(item).status == ApprovalStatus.DENIED
    assert len(resolved_events(item)) == 1


@pytest.mark.django_db
def test_respond_after_the_deadline_is_a_timeout() -> None:
    item = approval()
    with at(AFTER_DEADLINE), pytest.raises(WhatsAppError) as excinfo:
        item.respond(True, DecisionSource.REPLY, text="yes")
    assert excinfo.value.code is ErrorCode.APPROVAL_TIMEOUT
    assert excinfo.value.details["request_id"] == item.pk
    assert stored(item).status == ApprovalStatus.EXPIRED  # expired on the spot, never decided
    assert [e.payload["status"] for e in resolved_events(item)] == [ApprovalStatus.EXPIRED]


@pytest.mark.django_db
def test_respond_at_the_deadline_is_too_late() -> None:
    item = approval()
    with at(item.expires_at), pytest.raises(WhatsAppError) as excinfo:
        item.respond(True, DecisionSource.REPLY)
    assert excinfo.value.code is ErrorCode.APPROVAL_TIMEOUT


# --- expiry -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_expire_ends_an_overdue_pending_approval() -> None:
    item = approval()
    with at(AFTER_DEADLINE):
        assert item.expire() is True
    item = stored(item)
    assert item.status == ApprovalStatus.EXPIRED
    assert item.decided_by == DecisionSource.EXPIRY
    assert item.responded_at == AFTER_DEADLINE


@pytest.mark.django_db
def test_expire_applies_at_the_deadline() -> None:
    item = approval()
    with at(item.expires_at):
        assert item.expire() is True
    assert stored(item).status == ApprovalStatus.EXPIRED


@pytest.mark.django_db
def test_expire_before_the_deadline_does_nothing() -> None:
    item = approval()
    with at(BEFORE_DEADLINE):
        assert item.expire() is False
    assert stored(item).status == ApprovalStatus.PENDING
    assert resolved_events(item) == []


@pytest.mark.django_db
@pytest.mark.parametrize("approved", [True, False])
def test_expire_leaves_a_decided_approval_alone(approved: bool) -> None:
    item = approval()
    with at(BEFORE_DEADLINE):
        item.respond(approved, DecisionSource.API)
    with at(AFTER_DEADLINE):
        assert item.expire() is False
    assert stored(item).status == (ApprovalStatus.APPROVED if approved else ApprovalStatus.DENIED)
    assert len(resolved_events(item)) == 1


@pytest.mark.django_db
def test_expired_approval_never_changes_again() -> None:
    item = approval()
    with at(AFTER_DEADLINE):
        assert item.expire() is True
    later = AFTER_DEADLINE + timedelta(hours=1)
    with at(later):
        assert item.expire() is False
        for approved in (True, False):
            with pytest.raises(WhatsAppError) as excinfo:
                item.respond(approved, DecisionSource.OPERATOR, user="alice")
            assert excinfo.value.code is ErrorCode.APPROVAL_TIMEOUT
    item = stored(item)
    assert (item.status, item.responded_at, item.decided_by_user) == (ApprovalStatus.EXPIRED, AFTER_DEADLINE, "")
    assert len(resolved_events(item)) == 1


@pytest.mark.django_db
def test_seconds_left_counts_down_and_stops_at_zero() -> None:
    item = approval(timeout=60)
    with at(BEFORE_DEADLINE):
        assert item.seconds_left == 30
    with at(AFTER_DEADLINE):
        assert item.seconds_left == 0


# --- events -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("resolve", "status", "source"), [
    (lambda a: a.respond(True, DecisionSource.REPLY, text="ok"), "approved", "reply"),
    (lambda a: a.respond(False, DecisionSource.OPERATOR, user="alice"), "denied", "operator"),
    (lambda a: a.respond(True, DecisionSource.API), "approved", "api"),
    (lambda a: a.expire(), "expired", "expiry"),
], ids=["reply", "operator", "api", "expiry"])
def test_every_resolution_appends_one_approval_resolved_event(resolve, status: str, source: str) -> None:
    item = approval()
    moment = AFTER_DEADLINE if source == "expiry" else BEFORE_DEADLINE
    with at(moment):
        resolve(item)
    events = resolved_events(item)
    assert len(events) == 1
    payload = events[0].payload
    assert payload["request_id"] == item.pk
    assert payload["status"] == status
    assert payload["source"] == source
    assert payload["recipient_jid"] == item.recipient_jid
    assert payload["responded_at"] is not None


@pytest.mark.django_db
def test_failed_resolutions_append_no_event() -> None:
    item = approval()
    with at(BEFORE_DEADLINE):
        assert item.expire() is False
        item.respond(False, DecisionSource.REPLY, text="no")
        with pytest.raises(WhatsAppError):
            item.respond(True, DecisionSource.REPLY, text="yes")
    with at(AFTER_DEADLINE):
        assert item.expire() is False
    assert [e.payload["status"] for e in resolved_events(item)] == [ApprovalStatus.DENIED]
