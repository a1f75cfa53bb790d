"""Device creation and the status machine of SPEC §3: compare-and-set transitions with lifecycle events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from unittest.mock import patch

import pytest
from django.utils import timezone

from tests.factories import make_app, make_device
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import ConnectionState, Device, DeviceEvent, DeviceStatus, EventType

pytestmark = pytest.mark.django_db

S = DeviceStatus
PHONE = "15550001111@s.whatsapp.net"
OTHER_PHONE = "15550002222@s.whatsapp.net"
LID = "99887766554433@lid"


def window(seconds: int = 160):
    return timezone.now() + timedelta(seconds=seconds)


def device_in(status: str) -> Device:
    """A device brought to ``status`` through the public transitions."""
    device = make_device()
    if status == S.QR_GENERATED:
        device.record_qr("QR-1", window())
    elif status == S.CONNECTED:
        device.mark_connected(PHONE)
    elif status == S.DISCONNECTED:
        device.mark_connected(PHONE)
        device.mark_disconnected(ErrorCode.CONNECTION_LOST, permanent=False)
    elif status == S.EXPIRED:
        device.record_qr("QR-1", window())
        device.mark_qr_expired()
    elif status == S.DESTROYED:
        device.destroy()
    device.refresh_from_db()
    assert device.status == status
    return device


def events(device: Device) -> list[DeviceEvent]:
    return list(DeviceEvent.objects.filter(device=device).order_by("sequence"))


def stored_status(device: Device) -> str:
    return Device.objects.values_list("status", flat=True).get(pk=device.pk)


TRANSITIONS: dict[str, Callable[[Device], None]] = {
    "record_qr": lambda d: d.record_qr("QR-NEW", window()),
    "mark_qr_expired": lambda d: d.mark_qr_expired(),
    "mark_connected": lambda d: d.mark_connected(PHONE),
    "mark_disconnected": lambda d: d.mark_disconnected(None, permanent=False),
    "destroy": lambda d: d.destroy(),
}

# (transition, from status, resulting status, event type): every move of SPEC §3, plus the ones the machine
# allows for a stored session coming back (disconnected -> connected) and a cancelled pairing
# (qr_generated -> disconnected).
ALLOWED = [
    ("record_qr", S.QR_GENERATED, S.QR_GENERATED, EventType.DEVICE_QR_GENERATED),
    ("record_qr", S.EXPIRED, S.QR_GENERATED, EventType.DEVICE_QR_GENERATED),
    ("record_qr", S.DISCONNECTED, S.QR_GENERATED, EventType.DEVICE_QR_GENERATED),
    ("mark_qr_expired", S.QR_GENERATED, S.EXPIRED, EventType.DEVICE_DISCONNECTED),
    ("mark_connected", S.QR_GENERATED, S.CONNECTED, EventType.DEVICE_CONNECTED),
    ("mark_connected", S.CONNECTED, S.CONNECTED, EventType.DEVICE_CONNECTED),
    ("mark_connected", S.DISCONNECTED, S.CONNECTED, EventType.DEVICE_CONNECTED),
    ("mark_disconnected", S.CONNECTED, S.DISCONNECTED, EventType.DEVICE_DISCONNECTED),
    ("mark_disconnected", S.QR_GENERATED, S.DISCONNECTED, EventType.DEVICE_DISCONNECTED),
    ("mark_disconnected", S.DISCONNECTED, S.DISCONNECTED, EventType.DEVICE_DISCONNECTED),
    ("destroy", S.QR_GENERATED, S.DESTROYED, EventType.DEVICE_DESTROYED),
    ("destroy", S.CONNECTED, S.DESTROYED, EventType.DEVICE_DESTROYED),
    ("destroy", S.DISCONNECTED, S.DESTROYED, EventType.DEVICE_DESTROYED),
    ("destroy", S.EXPIRED, S.DESTROYED, EventType.DEVICE_DESTROYED),
]

# (transition, from status) pairs the machine refuses with CONFLICT.
CONFLICTS = [
    ("record_qr", S.CONNECTED),
    ("mark_qr_expired", S.CONNECTED),
    ("mark_qr_expired", S.DISCONNECTED),
    ("mark_qr_expired", S.EXPIRED),
    ("mark_connected", S.EXPIRED),
    ("mark_disconnected", S.EXPIRED),
]

ALIVE = [S.QR_GENERATED, S.CONNECTED, S.DISCONNECTED, S.EXPIRED]


# --- creation ---------------------------------------------------------------------------------


def test_create_starts_waiting_for_a_qr() -> None:
    device = Device.create(make_app(), "sales phone")
    device.refresh_from_db()
    assert device.status == S.QR_GENERATED
    assert device.connection_state == ConnectionState.CLOSED
    assert device.qr_code == ""
    assert not device.qr_is_valid


def test_create_trims_the_name() -> None:
    device = Device.create(make_app(), "  sales phone \t")
    device.refresh_from_db()
    assert device.name == "sales phone"


@pytest.mark.parametrize("name", ["", "   ", None])
def test_create_requires_a_name(name: str | None) -> None:
    with pytest.raises(WhatsAppError) as excinfo:
        Device.create(make_app(), name)
    assert excinfo.value.code is ErrorCode.VALIDATION_ERROR
    assert excinfo.value.details["field"] == "device_name"
    assert not Device.objects.exists()


def test_create_accepts_200_characters_after_trimming() -> None:
    device = Device.create(make_app(), "  " + "x" * 200 + "  ")
    assert len(device.name) == 200


def test_create_rejects_more_than_200_characters() -> None:
    with pytest.raises(WhatsAppError) as excinfo:
        Device.create(make_app(), "x" * 201)
    assert excinfo.value.code is ErrorCode.VALIDATION_ERROR
    assert excinfo.value.details["field"] == "device_name"
    assert not Device.objects.exists()


def test_duplicate_live_name_in_one_app_is_a_conflict() -> None:
    app = make_app()
    Device.create(app, "sales")
    with pytest.raises(WhatsAppError) as excinfo:
        Device.create(app, " sales ")
    assert excinfo.value.code is ErrorCode.CONFLICT
    assert excinfo.value.details["field"] == "device_name"
    assert Device.objects.filter(app=app).count() == 1


@pytest.mark.parametrize("status", ALIVE)
def test_name_of_any_live_device_is_taken(status: str) -> None:
    device = device_in(status)
    with pytest.raises(WhatsAppError) as excinfo:
        Device.create(device.app, device.name)
    assert excinfo.value.code is ErrorCode.CONFLICT


def test_name_is_reusable_after_destroy_but_the_id_is_not() -> None:
    app = make_app()
    old = Device.create(app, "sales")
    old.destroy()
    new = Device.create(app, "sales")
    assert new.pk != old.pk
    assert new.status == S.QR_GENERATED
    assert stored_status(old) == S.DESTROYED


def test_same_name_is_allowed_in_another_app() -> None:
    first = Device.create(make_app(), "sales")
    second = Device.create(make_app(), "sales")
    assert first.pk != second.pk


# --- the status machine -----------------------------------------------------------------------


@pytest.mark.parametrize(("transition", "source", "target", "event_type"), ALLOWED)
def test_allowed_transition_moves_and_appends_its_event(transition, source, target, event_type) -> None:
    device = device_in(source)
    before = len(events(device))
    TRANSITIONS[transition](device)
    assert device.status == target
    assert stored_status(device) == target
    new_events = events(device)[before:]
    assert [e.type for e in new_events] == [event_type]
    assert new_events[0].payload["status"] == target


@pytest.mark.parametrize(("transition", "source"), CONFLICTS)
def test_forbidden_transition_is_a_conflict_and_changes_nothing(transition, source) -> None:
    device = device_in(source)
    before = events(device)
    with pytest.raises(WhatsAppError) as excinfo:
        TRANSITIONS[transition](device)
    assert excinfo.value.code is ErrorCode.CONFLICT
    assert excinfo.value.details["status"] == source
    assert stored_status(device) == source
    assert events(device) == before


WRITES: dict[str, Callable[[Device], None]] = {
    **TRANSITIONS,
    "mark_disconnected_permanent": lambda d: d.mark_disconnected(ErrorCode.LOGGED_OUT, permanent=True),
    "set_connection_state": lambda d: d.set_connection_state(ConnectionState.CONNECTING),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_destroyed_device_refuses_every_transition(write: str) -> None:
    device = device_in(S.DESTROYED)
    before = events(device)
    with pytest.raises(WhatsAppError) as excinfo:
        WRITES[write](device)
    assert excinfo.value.code is ErrorCode.DEVICE_DESTROYED
    assert stored_status(device) == S.DESTROYED
    assert events(device) == before


@pytest.mark.parametrize("guard", ["ensure_alive", "ensure_connected", "ensure_qr_reset_allowed"])
def test_destroyed_device_fails_every_guard(guard: str) -> None:
    device = device_in(S.DESTROYED)
    with pytest.raises(WhatsAppError) as excinfo:
        getattr(device, guard)()
    assert excinfo.value.code is ErrorCode.DEVICE_DESTROYED


def test_destroy_records_when_and_clears_the_session() -> None:
    device = device_in(S.CONNECTED)
    device.destroy()
    device.refresh_from_db()
    assert device.destroyed_at is not None
    assert device.connection_state == ConnectionState.CLOSED
    assert device.qr_code == ""
    assert device.qr_expires_at is None


# --- stale instances --------------------------------------------------------------------------


@pytest.mark.parametrize("transition", list(TRANSITIONS))
def test_stale_instance_cannot_revive_a_destroyed_device(transition: str) -> None:
    device = device_in(S.CONNECTED)
    stale = Device.objects.get(pk=device.pk)
    device.destroy()
    before = events(device)
    with pytest.raises(WhatsAppError) as excinfo:
        TRANSITIONS[transition](stale)
    assert excinfo.value.code is ErrorCode.DEVICE_DESTROYED
    assert stored_status(device) == S.DESTROYED
    assert events(device) == before


def test_stale_instance_cannot_win_a_transition_the_database_forbids() -> None:
    device = device_in(S.QR_GENERATED)
    stale = Device.objects.get(pk=device.pk)
    device.mark_connected(PHONE)
    before = events(device)
    with pytest.raises(WhatsAppError) as excinfo:
        stale.mark_qr_expired()  # in memory still qr_generated; the database says connected
    assert excinfo.value.code is ErrorCode.CONFLICT
    assert excinfo.value.details["status"] == S.CONNECTED
    device.refresh_from_db()
    assert device.status == S.CONNECTED
    assert device.connection_state == ConnectionState.OPEN
    assert device.last_error_code == ""
    assert events(device) == before


# --- QR codes ---------------------------------------------------------------------------------


def test_record_qr_rotation_keeps_the_status_and_updates_code_and_expiry() -> None:
    device = make_device()
    first_window = window(160)
    device.record_qr("QR-1", first_window)
    device.record_qr("QR-2", first_window)
    later_window = window(300)
    device.record_qr("QR-3", later_window)
    device.refresh_from_db()
    assert device.status == S.QR_GENERATED
    assert device.qr_code == "QR-3"
    assert device.qr_expires_at == later_window
    assert device.connection_state == ConnectionState.CONNECTING
    qr_events = [e for e in events(device) if e.type == EventType.DEVICE_QR_GENERATED]
    assert [e.payload["qr_code"] for e in qr_events] == ["QR-1", "QR-2", "QR-3"]


def test_record_qr_after_a_drop_clears_the_last_error() -> None:
    device = device_in(S.DISCONNECTED)
    assert device.last_error_code == ErrorCode.CONNECTION_LOST.code
    device.record_qr("QR-1", window())
    device.refresh_from_db()
    assert device.last_error_code == ""
    assert device.qr_is_valid


def test_mark_qr_expired_clears_the_code_and_names_the_reason() -> None:
    device = device_in(S.QR_GENERATED)
    device.mark_qr_expired()
    device.refresh_from_db()
    assert device.qr_code == ""
    assert device.last_error_code == ErrorCode.AUTH_QR_EXPIRED.code
    assert events(device)[-1].payload["reason"] == "qr_expired"


def test_qr_reset_is_refused_while_a_qr_is_valid() -> None:
    device = device_in(S.QR_GENERATED)
    with pytest.raises(WhatsAppError) as excinfo:
        device.ensure_qr_reset_allowed()
    assert excinfo.value.code is ErrorCode.QR_RESET_NOT_ALLOWED


def test_qr_reset_is_refused_while_connected() -> None:
    device = device_in(S.CONNECTED)
    with pytest.raises(WhatsAppError) as excinfo:
        device.ensure_qr_reset_allowed()
    assert excinfo.value.code is ErrorCode.QR_RESET_NOT_ALLOWED


@pytest.mark.parametrize("status", [S.EXPIRED, S.DISCONNECTED])
def test_qr_reset_is_allowed_when_expired_or_disconnected(status: str) -> None:
    device_in(status).ensure_qr_reset_allowed()


def test_qr_reset_is_allowed_once_the_window_has_passed() -> None:
    device = make_device()
    device.record_qr("QR-1", timezone.now() - timedelta(seconds=1))
    device.refresh_from_db()
    assert device.status == S.QR_GENERATED
    device.ensure_qr_reset_allowed()


# --- connecting -------------------------------------------------------------------------------


def test_mark_connected_records_the_account_and_opens_the_session() -> None:
    device = device_in(S.QR_GENERATED)
    device.mark_connected("15550001111:12@s.whatsapp.net", lid=LID, push_name="Sales")
    device.refresh_from_db()
    assert device.phone_jid == PHONE
    assert device.lid == LID
    assert device.push_name == "Sales"
    assert device.connection_state == ConnectionState.OPEN
    assert device.qr_code == ""
    assert device.qr_expires_at is None
    assert device.linked_at is not None


def test_fresh_link_sets_linked_at() -> None:
    device = device_in(S.DISCONNECTED)
    device.linked_at = timezone.now() - timedelta(days=3)
    device.save(update_fields=["linked_at"])
    device.record_qr("QR-1", window())
    started = timezone.now()
    device.mark_connected(PHONE)  # a new scan, even of the same number, is a new link
    device.refresh_from_db()
    assert device.linked_at >= started


def test_reconnect_of_the_same_number_keeps_linked_at() -> None:
    device = device_in(S.DISCONNECTED)
    linked = timezone.now() - timedelta(days=3)
    device.linked_at = linked
    device.save(update_fields=["linked_at"])
    device.mark_connected("15550001111:3@s.whatsapp.net")  # device suffix: still the same account
    device.refresh_from_db()
    assert device.status == S.CONNECTED
    assert device.linked_at == linked


def test_reconnect_while_connected_keeps_linked_at() -> None:
    device = device_in(S.CONNECTED)
    linked = timezone.now() - timedelta(days=3)
    Device.objects.filter(pk=device.pk).update(linked_at=linked)
    device.refresh_from_db()
    device.mark_connected(PHONE)
    device.refresh_from_db()
    assert device.linked_at == linked


def test_stale_instance_sees_a_fresh_link_as_fresh() -> None:
    """Whether a connect is a new link depends on the stored state, not on a stale copy of it."""
    device = device_in(S.CONNECTED)
    linked = timezone.now() - timedelta(days=3)
    Device.objects.filter(pk=device.pk).update(linked_at=linked)
    stale = Device.objects.get(pk=device.pk)  # connected, same number, old linked_at
    device.mark_disconnected(ErrorCode.LOGGED_OUT, permanent=True)
    device.record_qr("QR-1", window())
    started = timezone.now()
    stale.mark_connected(PHONE)  # the scan of the new QR, reported through the stale instance
    device.refresh_from_db()
    assert device.status == S.CONNECTED
    assert device.linked_at >= started


def test_connecting_another_number_is_a_new_link() -> None:
    device = device_in(S.DISCONNECTED)
    device.linked_at = timezone.now() - timedelta(days=3)
    device.save(update_fields=["linked_at"])
    started = timezone.now()
    device.mark_connected(OTHER_PHONE)
    device.refresh_from_db()
    assert device.phone_jid == OTHER_PHONE
    assert device.linked_at >= started


def test_ensure_connected_passes_when_connected_and_open() -> None:
    device_in(S.CONNECTED).ensure_connected()


@pytest.mark.parametrize("status", [S.QR_GENERATED, S.DISCONNECTED, S.EXPIRED])
def test_ensure_connected_refuses_without_a_session(status: str) -> None:
    with pytest.raises(WhatsAppError) as excinfo:
        device_in(status).ensure_connected()
    assert excinfo.value.code is ErrorCode.MESSAGE_NOT_CONNECTED


@pytest.mark.parametrize("state", [ConnectionState.RECONNECTING, ConnectionState.CONNECTING, ConnectionState.CLOSED])
def test_ensure_connected_refuses_while_the_connection_is_not_open(state: str) -> None:
    device = device_in(S.CONNECTED)
    device.set_connection_state(state)
    with pytest.raises(WhatsAppError) as excinfo:
        device.ensure_connected()
    assert excinfo.value.code is ErrorCode.MESSAGE_NOT_CONNECTED


# --- disconnecting ----------------------------------------------------------------------------


def test_transient_disconnect_appends_only_device_disconnected() -> None:
    device = device_in(S.CONNECTED)
    before = len(events(device))
    device.mark_disconnected(ErrorCode.CONNECTION_LOST, permanent=False)
    new_events = events(device)[before:]
    assert [e.type for e in new_events] == [EventType.DEVICE_DISCONNECTED]
    assert new_events[0].payload["permanent"] is False
    assert new_events[0].payload["error_code"] == "CONNECTION_LOST"
    device.refresh_from_db()
    assert device.last_error_code == "CONNECTION_LOST"
    assert device.connection_state == ConnectionState.CLOSED


def test_permanent_disconnect_also_appends_device_logged_out() -> None:
    device = device_in(S.CONNECTED)
    before = len(events(device))
    device.mark_disconnected(ErrorCode.LOGGED_OUT, permanent=True, reason="logged_out")
    new_events = events(device)[before:]
    assert [e.type for e in new_events] == [EventType.DEVICE_DISCONNECTED, EventType.DEVICE_LOGGED_OUT]
    for event in new_events:
        assert event.payload["status"] == S.DISCONNECTED
        assert event.payload["permanent"] is True
        assert event.payload["reason"] == "logged_out"
    assert new_events[1].sequence == new_events[0].sequence + 1


def test_permanent_disconnect_is_all_or_nothing() -> None:
    """The status change and both events commit together: a failure appending device_logged_out must
    not leave a disconnected device whose logout webhook never fires."""
    device = device_in(S.CONNECTED)
    before = events(device)
    real_append = DeviceEvent.append

    def append(device_id, type, payload=None):
        if type == EventType.DEVICE_LOGGED_OUT:
            raise RuntimeError("event log unavailable")
        return real_append(device_id, type, payload)

    with patch.object(DeviceEvent, "append", side_effect=append), pytest.raises(RuntimeError):
        device.mark_disconnected(ErrorCode.LOGGED_OUT, permanent=True, reason="logged_out")
    assert stored_status(device) == S.CONNECTED
    assert events(device) == before


def test_transition_whose_event_cannot_be_appended_changes_nothing() -> None:
    device = device_in(S.QR_GENERATED)
    before = events(device)
    with patch.object(DeviceEvent, "append", side_effect=RuntimeError("event log unavailable")), \
            pytest.raises(RuntimeError):
        device.mark_connected(PHONE)
    assert stored_status(device) == S.QR_GENERATED
    assert events(device) == before


def test_refused_permanent_disconnect_appends_nothing() -> None:
    device = device_in(S.EXPIRED)
    before = events(device)
    with pytest.raises(WhatsAppError):
        device.mark_disconnected(ErrorCode.LOGGED_OUT, permanent=True)
    assert events(device) == before


# --- connection state -------------------------------------------------------------------------


@pytest.mark.parametrize("status", ALIVE)
def test_set_connection_state_changes_no_status_and_appends_nothing(status: str) -> None:
    device = device_in(status)
    before = events(device)
    device.set_connection_state(ConnectionState.RECONNECTING, ErrorCode.CONNECTION_LOST)
    device.refresh_from_db()
    assert device.status == status
    assert device.connection_state == ConnectionState.RECONNECTING
    assert device.last_error_code == "CONNECTION_LOST"
    assert events(device) == before


def test_open_connection_state_clears_the_last_error() -> None:
    device = device_in(S.CONNECTED)
    device.set_connection_state(ConnectionState.RECONNECTING, ErrorCode.CONNECTION_LOST)
    device.set_connection_state(ConnectionState.OPEN)
    device.refresh_from_db()
    assert device.last_error_code == ""
    device.ensure_connected()


def test_lifecycle_events_carry_the_device_state() -> None:
    device = device_in(S.QR_GENERATED)
    device.mark_connected(PHONE, lid=LID)
    payload = events(device)[-1].payload
    assert payload["status"] == S.CONNECTED
    assert payload["connection_state"] == ConnectionState.OPEN
    assert payload["phone_jid"] == PHONE
    assert payload["lid"] == LID
    assert payload["linked_at"] is not None
