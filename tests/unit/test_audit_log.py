"""The audit log: one row per call, linked to what it concerns, and outliving it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from audit.models import AuditLog, Surface
from tests.factories import make_device

pytestmark = pytest.mark.django_db


def record(**fields) -> AuditLog:
    fields.setdefault("actor", "system")
    fields.setdefault("surface", Surface.SYSTEM)
    fields.setdefault("action", "POST /devices")
    fields.setdefault("success", True)
    return AuditLog.record(**fields)


def test_record_stores_one_row_with_its_fields() -> None:
    row = record(actor="app:42", surface=Surface.API, action="POST /devices/x/messages", success=False,
                 error_code="MESSAGE_NOT_CONNECTED", request_id="req-1")
    row = AuditLog.objects.get(pk=row.pk)
    assert (row.actor, row.surface, row.action) == ("app:42", "api", "POST /devices/x/messages")
    assert row.success is False
    assert (row.error_code, row.request_id) == ("MESSAGE_NOT_CONNECTED", "req-1")
    assert row.details == {}
    assert row.created_at is not None
    assert AuditLog.objects.count() == 1


def test_record_links_by_instance() -> None:
    device = make_device()
    row = record(tenant=device.app.tenant, app=device.app, device=device)
    row = AuditLog.objects.get(pk=row.pk)
    assert row.tenant_id == device.app.tenant_id
    assert row.app_id == device.app_id
    assert row.device_id == device.pk


def test_record_links_by_id() -> None:
    device = make_device()
    row = record(app_id=device.app_id, device_id=device.pk)
    row = AuditLog.objects.get(pk=row.pk)
    assert row.app_id == device.app_id
    assert row.device_id == device.pk
    assert row.tenant_id is None


def test_details_keep_datetimes_uuids_and_decimals_as_json() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    details = {"at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "id": ident, "amount": Decimal("1.50"),
               "args": {"chat": "15551234567@s.whatsapp.net", "limit": 20}}
    row = AuditLog.objects.get(pk=record(details=details).pk)
    assert row.details == {"at": "2025-01-02T03:04:05Z", "id": str(ident), "amount": "1.50",
                           "args": {"chat": "15551234567@s.whatsapp.net", "limit": 20}}


def test_row_survives_deleting_its_device() -> None:
    device = make_device()
    row = record(tenant=device.app.tenant, app=device.app, device=device)
    device.delete()
    row = AuditLog.objects.get(pk=row.pk)
    assert row.device_id is None
    assert row.app_id == device.app_id


def test_row_survives_deleting_its_app() -> None:
    device = make_device()
    app = device.app
    row = record(tenant=app.tenant, app=app, device=device)
    app.delete()  # cascades to the device
    row = AuditLog.objects.get(pk=row.pk)
    assert (row.app_id, row.device_id) == (None, None)
    assert row.tenant_id == app.tenant_id
    assert row.action == "POST /devices"


def test_row_survives_deleting_its_tenant() -> None:
    device = make_device()
    tenant = device.app.tenant
    row = record(tenant=tenant, app=device.app, device=device)
    tenant.delete()
    row = AuditLog.objects.get(pk=row.pk)
    assert (row.tenant_id, row.app_id, row.device_id) == (None, None, None)


def test_str_shows_the_outcome() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert str(record(created_at=at, actor="mcp:stdio", action="send_message")) == \
        "2025-01-02 03:04:05 mcp:stdio send_message ok"
    failed = record(created_at=at, actor="mcp:stdio", action="send_message", success=False, error_code="X")
    assert str(failed).endswith("send_message X")
