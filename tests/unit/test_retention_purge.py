"""The hourly retention purge: old messages go with their media (rows and files), their event log
entries and their chat previews; what an undelivered webhook points to stays; approvals and audit
rows follow their own rules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from approvals.models import Approval
from audit.models import AuditLog
from media.models import MediaDirection, MediaFile, storage_path
from tests.factories import make_app, make_approval, make_chat, make_device, make_message
from whatsapp.models import Chat, DeviceEvent, Message, WebhookDelivery
from whatsapp.services.retention import purge_expired

pytestmark = pytest.mark.django_db

ALICE = "15145550101@s.whatsapp.net"


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    settings.MESSAGE_RETENTION_DAYS = 90
    return tmp_path


def aged(days: float) -> timezone.datetime:
    return timezone.now() - timedelta(days=days)


def with_media(device, chat, days: float, name: str) -> tuple[Message, Path]:
    message = make_message(device, chat, wa_id=name, type="image", body=f"photo {name}", timestamp=aged(days))
    path = storage_path(device.app_id, device.pk, name, "jpg")
    media = MediaFile.objects.create(app_id=device.app_id, device=device, message=message, path=path,
                                     direction=MediaDirection.INBOUND, mime_type="image/jpeg", size=3)
    media.absolute_path.parent.mkdir(parents=True, exist_ok=True)
    media.absolute_path.write_bytes(b"jpg")
    return message, media.absolute_path


def test_old_messages_go_with_their_media_files_and_the_chat_forgets_them(media_root) -> None:
    device = make_device()
    chat = make_chat(device, ALICE)
    _old, old_file = with_media(device, chat, 100, "OLD")
    make_message(device, chat, body="secret old text", timestamp=aged(95))
    recent = make_message(device, chat, body="recent words", timestamp=aged(1))
    Chat.objects.filter(pk=chat.pk).update(last_message_preview="secret old text", unread_count=3)

    report = purge_expired()
    assert (report.messages, report.media_files) == (2, 1)
    assert list(Message.objects.filter(device=device)) == [recent]
    assert not old_file.exists()
    assert not MediaFile.objects.filter(path__endswith="OLD.jpg").exists()
    chat.refresh_from_db()
    assert (chat.last_message_preview, chat.last_message_at, chat.unread_count) == (
        "recent words", recent.timestamp, 1)


def test_a_chat_left_empty_has_no_preview(media_root) -> None:
    device = make_device()
    chat = make_chat(device, ALICE, last_message_preview="gone", unread_count=1)
    make_message(device, chat, body="gone", timestamp=aged(200))
    purge_expired()
    chat.refresh_from_db()
    assert (chat.last_message_preview, chat.last_message_at, chat.unread_count) == ("", None, 0)


def test_event_log_entries_with_old_text_go_unless_a_webhook_still_has_to_send_them(media_root) -> None:
    device = make_device(make_app(webhook_url="https://hooks.example.test/wa"))
    delivered, waiting = DeviceEvent.append_many(device.pk, [("message", {"text": "old text 1"}),
                                                             ("message", {"text": "old text 2"})])
    fresh = DeviceEvent.append(device.pk, "message", {"text": "new"})
    WebhookDelivery.objects.filter(event=delivered).update(state="succeeded")
    DeviceEvent.objects.filter(pk__in=[delivered.pk, waiting.pk]).update(created_at=aged(100))
    assert purge_expired().events == 1
    assert set(DeviceEvent.objects.filter(device=device).values_list("pk", flat=True)) == {waiting.pk, fresh.pk}


def test_media_an_undelivered_webhook_points_to_is_kept_until_it_is_delivered(media_root) -> None:
    device = make_device(make_app(webhook_url="https://hooks.example.test/wa"))
    chat = make_chat(device, ALICE)
    message, file = with_media(device, chat, 100, "HELD")
    event = DeviceEvent.append(device.pk, "message", {"message_id": "HELD", "media_path": message.media_file.path})
    report = purge_expired()
    assert (report.messages, report.media_held) == (0, 1)
    assert file.exists()
    assert Message.objects.filter(pk=message.pk).exists()

    WebhookDelivery.objects.filter(event=event).update(state="succeeded")
    assert purge_expired().messages == 1
    assert not file.exists()


def test_decided_approvals_go_pending_ones_stay(media_root) -> None:
    device = make_device()
    old_decided = make_approval(device, status="approved")
    old_pending = make_approval(device)
    recent = make_approval(device, status="denied")
    Approval.objects.filter(pk__in=[old_decided.pk, old_pending.pk]).update(created_at=aged(100))
    assert purge_expired().approvals == 1
    assert set(Approval.objects.values_list("pk", flat=True)) == {old_pending.pk, recent.pk}


def test_audit_rows_follow_their_own_retention(media_root, settings) -> None:
    settings.AUDIT_RETENTION_DAYS = 365
    old = AuditLog.record(actor="system", surface="api", action="POST /x", success=True)
    kept = AuditLog.record(actor="system", surface="api", action="POST /y", success=True)
    AuditLog.objects.filter(pk=old.pk).update(created_at=aged(400))
    assert purge_expired().audit_rows == 1
    assert list(AuditLog.objects.values_list("pk", flat=True)) == [kept.pk]


def test_a_file_already_gone_does_not_stop_the_purge(media_root) -> None:
    device = make_device()
    message, file = with_media(device, make_chat(device, ALICE), 100, "GONE")
    file.unlink()
    report = purge_expired()
    assert report.messages == 1
    assert report.missing_files == [message_path(message)]


def message_path(message: Message) -> str:
    return storage_path(message.device.app_id, message.device_id, message.wa_id, "jpg")
