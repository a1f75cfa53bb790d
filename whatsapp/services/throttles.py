"""The gateway's own sliding-window limits (reference/mcp-tools.md §1.10, §1.11), on ThrottleHit rows.

Every process of the gateway (web, workers, the MCP stdio process, runners) counts against the same
rows, so a limit holds however many processes serve a device, and the auth throttle survives
restarts.

* **Outbound** and **download** tokens (:func:`take`): at most N per device in any sliding 60 s.
  N is the device's ``rate_limit_per_min`` (outbound only), else its app's ``rate_limit_per_min`` /
  ``download_rate_limit_per_min``, else ``RATE_LIMIT_PER_MIN`` / ``DOWNLOAD_RATE_LIMIT_PER_MIN``.
  Taking is race-free across processes: the hit is inserted first and the window counted after,
  in one transaction that holds the key's lock (PostgreSQL: a transaction-scoped advisory lock;
  SQLite: the write lock the insert takes, since SQLite serialises writers), and a refused take
  rolls its hit back. Two concurrent takers therefore never both get the last token.
* **Authentication** (:func:`check_auth`, :func:`record_auth`, :func:`reset_auth_cooldown`): at most
  5 recorded attempts (codes or QRs issued, failures) in any sliding 30 minutes, checked first; then
  a cooldown after consecutive failures of 60, 120, 240, 480 and 900 s (capped), measured from the
  last attempt. An issued code/QR or a ``connected`` event ends the failure streak (a ``reset`` row)
  but does not clear the window.

Rows older than their window are deleted as the key is used, and by :func:`purge_old_hits` (the
retention job). Auth rows are kept for a day: a failure streak whose last failure is a day old is
forgotten.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Device
from whatsapp.models.throttles import ThrottleHit

__all__ = ["AUTH_COOLDOWNS_S", "AUTH_MAX_ATTEMPTS", "AUTH_WINDOW_S", "WINDOW_S", "check_auth", "limit_for",
           "purge_old_hits", "record_auth", "reset_auth_cooldown", "take"]

Kind = Literal["outbound", "download"]
WINDOW_S = 60
AUTH_WINDOW_S = 30 * 60
AUTH_MAX_ATTEMPTS = 5
AUTH_COOLDOWNS_S = (60, 120, 240, 480, 900)
AUTH_RETENTION_S = 24 * 3600
ISSUED, FAILED, RESET = "issued", "failed", "reset"
ATTEMPTS = (ISSUED, FAILED)
_STREAK_READ = 100  # newest auth rows read to count a failure streak (the message states the count)

_LIMITS = {
    "outbound": (ErrorCode.MESSAGE_RATE_LIMITED, "RATE_LIMIT_PER_MIN", "outbound operations"),
    "download": (ErrorCode.MEDIA_RATE_LIMITED, "DOWNLOAD_RATE_LIMIT_PER_MIN", "media downloads"),
}


def _key(kind: str, device: Device) -> str:
    return f"{kind}:{device.pk}"


def _lock(key: str) -> None:
    """Serialise the takers of one key until the transaction ends. PostgreSQL needs an explicit
    lock (under READ COMMITTED two transactions would not see each other's uncommitted hits);
    SQLite allows one writer at a time, and the hit inserted next takes that write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


# --- outbound and download tokens ---------------------------------------------------------------


def limit_for(device: Device, kind: Kind) -> int:
    """Tokens per sliding minute for the device: its own override (outbound), its app's, else the
    environment's default."""
    if kind not in _LIMITS:
        raise ValueError(f"unknown limit {kind!r}")
    app = device.app
    if kind == "outbound":
        configured = device.rate_limit_per_min or app.rate_limit_per_min
    else:
        configured = app.download_rate_limit_per_min
    return configured or getattr(settings, _LIMITS[kind][1])


def take(device: Device, kind: Kind) -> None:
    """Take one ``outbound`` or ``download`` token for the device, or raise ``MESSAGE_RATE_LIMITED``
    / ``MEDIA_RATE_LIMITED`` with ``retry_after_s``: the seconds until the oldest hit leaves the
    window, rounded up. A refused take consumes nothing."""
    limit = limit_for(device, kind)
    key = _key(kind, device)
    with transaction.atomic():
        _lock(key)
        now = timezone.now()  # after the lock: a taker that waited for it counts from when it got it
        window_start = now - timedelta(seconds=WINDOW_S)
        ThrottleHit.objects.filter(key=key, at__lte=window_start).delete()
        hit = ThrottleHit.objects.create(key=key, at=now)
        earlier = ThrottleHit.objects.filter(key=key, at__gt=window_start).exclude(pk=hit.pk)
        used = earlier.count()
        if used < limit:
            return
        oldest = earlier.aggregate(oldest=Min("at"))["oldest"]
        retry_after = (oldest + timedelta(seconds=WINDOW_S) - now).total_seconds()
        # Raising inside the block rolls the hit back.
        raise _rate_limited(kind, limit, retry_after)


def _rate_limited(kind: str, limit: int, retry_after: float) -> WhatsAppError:
    code, setting, what = _LIMITS[kind]
    seconds = max(1, math.ceil(retry_after))
    return WhatsAppError(
        code, f"Rate limit reached: {limit} {what} per minute ({setting}). Retry in {seconds} s.",
        retry_after_s=seconds, details={"limit": limit, "window_s": WINDOW_S},
    )


# --- authentication throttle --------------------------------------------------------------------


def _auth_key(device: Device) -> str:
    return _key("auth", device)


def _cooldown_for(failures: int) -> int:
    return AUTH_COOLDOWNS_S[min(failures, len(AUTH_COOLDOWNS_S)) - 1] if failures else 0


def _failure_streak(key: str) -> tuple[int, datetime | None]:
    """Consecutive failures since the last issued code/QR or reset (counted up to
    ``_STREAK_READ``; the cooldown stops growing after five), and the last attempt's time."""
    streak, last_attempt = 0, None
    rows = ThrottleHit.objects.filter(key=key).order_by("-at", "-pk").values_list("outcome", "at")
    for outcome, at in rows[:_STREAK_READ]:
        if outcome in ATTEMPTS and last_attempt is None:
            last_attempt = at
        if outcome != FAILED:
            break
        streak += 1
    return streak, last_attempt


def check_auth(device: Device) -> None:
    """Refuse a pairing request with ``PERMISSION_AUTH_THROTTLED`` while the device is throttled:
    first the window (5 recorded attempts in 30 minutes; the refusal states the minutes until the
    oldest drops out), then the failure cooldown (the refusal states the seconds left). Both carry
    ``retry_after_s``. Checking records nothing."""
    key = _auth_key(device)
    now = timezone.now()
    window = ThrottleHit.objects.filter(key=key, outcome__in=ATTEMPTS, at__gt=now - timedelta(seconds=AUTH_WINDOW_S))
    attempts = list(window.order_by("at").values_list("at", flat=True))
    if len(attempts) >= AUTH_MAX_ATTEMPTS:
        # The window has room again once all but AUTH_MAX_ATTEMPTS - 1 of these have dropped out.
        frees_at = attempts[len(attempts) - AUTH_MAX_ATTEMPTS] + timedelta(seconds=AUTH_WINDOW_S)
        seconds = max(1, math.ceil((frees_at - now).total_seconds()))
        minutes = math.ceil(seconds / 60)
        raise WhatsAppError(
            ErrorCode.PERMISSION_AUTH_THROTTLED,
            f"Too many authentication attempts: {AUTH_MAX_ATTEMPTS} in the last 30 minutes. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            retry_after_s=seconds,
            details={"reason": "window", "limit": AUTH_MAX_ATTEMPTS, "window_s": AUTH_WINDOW_S,
                     "retry_after_min": minutes},
        )
    failures, last_attempt = _failure_streak(key)
    cooldown = _cooldown_for(failures)
    if cooldown and last_attempt is not None:
        left = (last_attempt + timedelta(seconds=cooldown) - now).total_seconds()
        if left > 0:
            seconds = math.ceil(left)
            raise WhatsAppError(
                ErrorCode.PERMISSION_AUTH_THROTTLED,
                f"{failures} consecutive failed authentication attempt{'s' if failures != 1 else ''}: "
                f"wait {seconds} s before trying again.",
                retry_after_s=seconds,
                details={"reason": "cooldown", "failures": failures, "cooldown_s": cooldown},
            )


def record_auth(device: Device, outcome: Literal["issued", "failed"]) -> None:
    """Record an authentication attempt: ``issued`` (a pairing code or QR fallback was issued,
    which also ends the failure streak) or ``failed``."""
    if outcome not in ATTEMPTS:
        raise ValueError(f"outcome must be one of {ATTEMPTS}, not {outcome!r}")
    _record(device, outcome)


def reset_auth_cooldown(device: Device) -> None:
    """End the failure streak (a successful attempt, or the device connected). The 30-minute window
    keeps its attempts."""
    _record(device, RESET)


def _record(device: Device, outcome: str) -> None:
    key = _auth_key(device)
    now = timezone.now()
    with transaction.atomic():
        ThrottleHit.objects.filter(key=key, at__lte=now - timedelta(seconds=AUTH_RETENTION_S)).delete()
        ThrottleHit.objects.create(key=key, at=now, outcome=outcome)


# --- retention ----------------------------------------------------------------------------------


def purge_old_hits(now: datetime | None = None) -> int:
    """Delete every hit no window can count any more (tokens after a minute, auth rows after a
    day); returns how many were deleted."""
    now = now or timezone.now()
    auth = Q(key__startswith="auth:")
    stale = (~auth & Q(at__lte=now - timedelta(seconds=WINDOW_S))) | (
        auth & Q(at__lte=now - timedelta(seconds=AUTH_RETENTION_S)))
    deleted, _ = ThrottleHit.objects.filter(stale).delete()
    return deleted
