"""Retention (SPEC §8): the hourly purge of what is older than its keeping time.

* messages older than ``MESSAGE_RETENTION_DAYS`` (by WhatsApp's time), with their reactions, commands
  and media files (row and bytes on disk); the chats they leave behind get their preview, last time
  and unread count recomputed from what remains, so no purged text lingers as a preview;
* the event log's entries older than that (their payloads carry message text too), except those a
  webhook delivery still has to send;
* decided or expired approvals older than that (pending ones are the expiry job's);
* audit rows older than ``AUDIT_RETENTION_DAYS``;
* rate-limit and auth-throttle rows their windows no longer need.

Media an undelivered webhook still points to (``media_path``) is kept, message and file, until the
delivery is done: a receiver must be able to fetch what it is told about.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from approvals.models import Approval, ApprovalStatus
from audit.models import AuditLog
from media.models import MediaFile
from whatsapp.models import Chat, DeviceEvent, Direction, Message
from whatsapp.models.webhooks import OPEN_STATES
from whatsapp.services import throttles
from whatsapp.services.ingest import preview_of
from whatsapp.webhooks.services import media_paths_held

logger = logging.getLogger("whatsapp.retention")

BATCH = 1000


@dataclass
class PurgeReport:
    messages: int = 0
    media_files: int = 0
    media_held: int = 0
    chats_refreshed: int = 0
    events: int = 0
    approvals: int = 0
    audit_rows: int = 0
    throttle_hits: int = 0
    missing_files: list[str] = field(default_factory=list)


def purge_expired(now: datetime | None = None) -> PurgeReport:
    now = now or timezone.now()
    report = PurgeReport()
    cutoff = now - timedelta(days=settings.MESSAGE_RETENTION_DAYS)
    held = media_paths_held()
    _purge_messages(cutoff, held, report)
    _purge_orphan_media(cutoff, held, report)
    report.events = _purge_events(cutoff)
    report.approvals = Approval.objects.filter(created_at__lt=cutoff).exclude(
        status=ApprovalStatus.PENDING).delete()[1].get(Approval._meta.label, 0)
    report.throttle_hits = throttles.purge_old_hits(now)
    report.audit_rows = AuditLog.objects.filter(
        created_at__lt=now - timedelta(days=settings.AUDIT_RETENTION_DAYS)).delete()[1].get(AuditLog._meta.label, 0)
    logger.info("retention purge: %s", report)
    return report


def _purge_messages(cutoff: datetime, held: set[str], report: PurgeReport) -> None:
    old = Message.objects.filter(timestamp__lt=cutoff)
    if held:
        kept = old.filter(media_file__path__in=held)
        report.media_held = kept.count()
        old = old.exclude(pk__in=kept.values("pk"))
    while True:
        rows = list(old.order_by("pk").values_list("pk", "chat_id")[:BATCH])
        if not rows:
            return
        ids, chat_ids = [pk for pk, _ in rows], {chat for _, chat in rows}
        files = list(MediaFile.objects.filter(message_id__in=ids))
        with transaction.atomic():
            report.media_files += _delete_files(files, report)
            report.messages += Message.objects.filter(pk__in=ids).delete()[1].get(Message._meta.label, 0)
            report.chats_refreshed += refresh_chats(chat_ids)


def _purge_orphan_media(cutoff: datetime, held: set[str], report: PurgeReport) -> None:
    """Media rows whose message is gone (kept with SET_NULL) and that nothing holds any more."""
    orphans = list(MediaFile.objects.filter(message__isnull=True, created_at__lt=cutoff).exclude(path__in=held))
    report.media_files += _delete_files(orphans, report)


def _delete_files(files: list[MediaFile], report: PurgeReport) -> int:
    for media in files:
        try:
            media.absolute_path.unlink()
        except FileNotFoundError:
            report.missing_files.append(media.path)
    return MediaFile.objects.filter(pk__in=[media.pk for media in files]).delete()[0] if files else 0


def refresh_chats(chat_ids: set[int]) -> int:
    """Recompute each chat's preview, last message time and unread count from its messages."""
    for chat in Chat.objects.filter(pk__in=chat_ids):
        newest = chat.messages.order_by("-timestamp", "-pk").first()
        chat.last_message_at = newest.timestamp if newest else None
        chat.last_message_preview = preview_of(newest) if newest else ""
        chat.unread_count = chat.messages.filter(direction=Direction.INBOUND, from_me=False, from_history=False,
                                                 read_at__isnull=True).count()
        chat.save(update_fields=["last_message_at", "last_message_preview", "unread_count", "updated_at"])
    return len(chat_ids)


def _purge_events(cutoff: datetime) -> int:
    pending = Q(deliveries__state__in=OPEN_STATES)
    old = DeviceEvent.objects.filter(created_at__lt=cutoff).exclude(pending)
    deleted = 0
    while True:
        ids = list(old.order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not ids:
            return deleted
        deleted += DeviceEvent.objects.filter(pk__in=ids).delete()[1].get(DeviceEvent._meta.label, 0)
