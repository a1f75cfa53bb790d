"""Where an app's deliveries go, and whether we may go there.

wa-server's rules: an empty webhook path sends nothing (and records no failure); a path starting with
``/`` is joined to ``WEBHOOK_BASE_URL``; an absolute ``http(s)://`` URL is used as it is. The URL is
read from the app at each attempt, so fixing a wrong URL also fixes the retries already scheduled.

Receivers are reached only on public addresses unless ``ALLOW_PRIVATE_URLS`` (the same SSRF rule as
media URLs), so a tenant cannot point webhooks at the gateway's own network. The address check runs
before each attempt; connections are then kept alive per receiver, which leaves a DNS-rebinding
window of one keep-alive connection's life (30 s) — documented, and closed by pinning as the media
fetcher does should it ever matter more than keep-alive.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings

from media.fetch import is_forbidden_address
from whatsapp.errors import ErrorCode, WhatsAppError

DNS_CACHE_S = 30.0
_checked: dict[str, tuple[float, WhatsAppError | None]] = {}
_lock = threading.Lock()


def resolve_url(webhook_url: str) -> str:
    """The absolute URL of an app's webhook setting. ``WEBHOOK_NOT_CONFIGURED`` when the setting is
    empty, or relative while ``WEBHOOK_BASE_URL`` is not set."""
    text = (webhook_url or "").strip()
    if not text:
        raise WhatsAppError(ErrorCode.WEBHOOK_NOT_CONFIGURED, "The app has no webhook URL.")
    if text.startswith("/"):
        base = (settings.WEBHOOK_BASE_URL or "").strip().rstrip("/")
        if not base:
            raise WhatsAppError(ErrorCode.WEBHOOK_NOT_CONFIGURED,
                                f"The webhook path {text!r} is relative and WEBHOOK_BASE_URL is not set.",
                                details={"webhook_url": text})
        return base + text
    return text


def endpoint_key(url: str) -> str:
    """``scheme://host:port``: what the per-receiver concurrency cap counts."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def check_destination(url: str) -> None:
    """Refuse (``WEBHOOK_URL_FORBIDDEN``) a URL whose host is not public, unless private addresses
    are allowed. Results are cached briefly per host, so a busy stream does not resolve per event."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WhatsAppError(ErrorCode.WEBHOOK_NOT_CONFIGURED, "The webhook URL is not an absolute http(s) URL.",
                            details={"url": url})
    if settings.ALLOW_PRIVATE_URLS:
        return
    host = parts.hostname.lower()
    now = time.monotonic()
    with _lock:
        cached = _checked.get(host)
    if cached is None or now - cached[0] > DNS_CACHE_S:
        cached = (now, _check_host(host))
        with _lock:
            _checked[host] = cached
    if cached[1] is not None:
        raise cached[1]


def _check_host(host: str) -> WhatsAppError | None:
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return None  # let the attempt fail (and be classified) as a DNS failure
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    forbidden = [str(address) for address in addresses if is_forbidden_address(address)]
    if forbidden:
        return WhatsAppError(ErrorCode.WEBHOOK_URL_FORBIDDEN, details={"host": host, "addresses": forbidden})
    return None
