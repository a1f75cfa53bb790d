"""How tool results show times, bodies and people (reference §1.13): one zone, 24-hour clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from whatsapp.models import Message


def zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def when(moment: datetime | None, *, never: str = "never") -> str:
    """``YYYY-MM-DD HH:MM:SS`` in the configured zone (midnight is 00:00:00)."""
    if moment is None:
        return never
    return timezone.localtime(moment, zone()).strftime("%Y-%m-%d %H:%M:%S")


def when_zoned(moment: datetime | None) -> str:
    """:func:`when` followed by the zone's name, where the zone matters (expiries, catch_up)."""
    return f"{when(moment)} {settings.TIME_ZONE}" if moment else "never"


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def ago(moment: datetime, now: datetime | None = None) -> str:
    seconds = int(((now or timezone.now()) - moment).total_seconds())
    if seconds < 60:
        return "just now" if seconds < 5 else f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86400} d ago"


def day_label(moment: datetime, now: datetime | None = None) -> str:
    local, today = timezone.localtime(moment, zone()).date(), timezone.localtime(now or timezone.now(), zone()).date()
    if local == today:
        return "today"
    if local == today - timedelta(days=1):
        return "yesterday"
    return local.isoformat()


def clip(text: str, limit: int) -> str:
    text = " ".join((text or "").split()) if "\n" in (text or "") else (text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def body_or_marker(message: Message, limit: int) -> str:
    """The first ``limit`` characters of the body, or a media marker with type and file name."""
    if message.revoked_at:
        return "[deleted]"
    if message.has_media:
        marker = f"[{message.type}{': ' + message.media_file_name if message.media_file_name else ''}]"
        return f"{marker} {clip(message.body, limit)}".rstrip()
    if message.body:
        return clip(message.body, limit)
    return f"[{message.type}]" if message.type != "text" else "[empty]"
