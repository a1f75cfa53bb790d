"""The device's event log as MCP notifications and ``wait_for_message`` wake-ups (reference §3.3, §3.4).

One :class:`DeviceFeed` per device per process tails the log (an indexed query every
``POLL_INTERVAL_S``; events are written by other processes, so a database read is the common ground
in every mode). It remembers the last sequence it handled, so a slow poll or a database hiccup delays
events but never loses one. Notifications are best-effort: a closed stream drops them, never a tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections

from whatsapp.models import Device, DeviceEvent, EventType
from whatsapp.services.policies import whitelist_for

logger = logging.getLogger("whatsapp.mcp.feed")

POLL_INTERVAL_S = 0.25
BATCH = 500
#: Reasons of a session that ended for good (reference §3.4); anything else was transient.
PERMANENT_MARKERS = ("revoked", "replaced", "banned", "unlinked", "device_removed", "logged_out",
                     "multidevice_mismatch")


class Notifiable(Protocol):
    async def notify(self, method: str, params: dict[str, Any] | None) -> None: ...


@dataclass(frozen=True)
class FeedItem:
    """One event, with what the feed decided about it in the database thread."""

    sequence: int
    type: str
    payload: dict[str, Any]
    allowed: bool = True      # the chat passes the whitelist
    sender_name: str = ""


@dataclass(eq=False)
class Waiter:
    """A registered ``wait_for_message``: the first item its predicate accepts resolves it."""

    accepts: Callable[[FeedItem], bool]
    future: asyncio.Future[FeedItem] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Cancelled(Exception):
    """The session ended while waiting (disconnect or logout)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_permanent(reason: str) -> bool:
    reason = (reason or "").lower()
    return any(marker in reason for marker in PERMANENT_MARKERS)


def _sender_name(payload: dict[str, Any], device: Device) -> str:
    try:
        from whatsapp.services.directory import display_name
    except ImportError:  # pragma: no cover - until the directory lands
        return payload.get("push_name") or ""
    sender = payload.get("sender_jid") or ""
    if payload.get("is_from_me"):
        return "You"
    return display_name(device, sender) if sender else (payload.get("push_name") or "")


def _read(device_id: uuid.UUID, after: int) -> list[FeedItem]:
    """The events after ``after``, judged against the whitelist (runs in a worker thread)."""
    try:
        events = list(DeviceEvent.objects.filter(device_id=device_id, sequence__gt=after)
                      .order_by("sequence").values_list("sequence", "type", "payload")[:BATCH])
        if not events:
            return []
        device = Device.objects.get(pk=device_id)
        whitelist = whitelist_for(device)
        items = []
        for sequence, type_, payload in events:
            if type_ == EventType.MESSAGE:
                chat = payload.get("chat_jid") or ""
                items.append(FeedItem(sequence, type_, payload, allowed=whitelist.allows(device, chat),
                                      sender_name=_sender_name(payload, device)))
            else:
                items.append(FeedItem(sequence, type_, payload))
        return items
    finally:
        close_old_connections()


def _head(device_id: uuid.UUID) -> int:
    try:
        return Device.objects.filter(pk=device_id).values_list("event_sequence", flat=True).first() or 0
    finally:
        close_old_connections()


def message_notification(item: FeedItem) -> dict[str, Any] | None:
    """``notifications/message_received`` params, or None when the message must not be announced:
    sent by this server, from history sync, or in a chat the whitelist hides."""
    payload = item.payload
    if payload.get("direction") == "out" or payload.get("from_history") or not item.allowed:
        return None
    return {
        "messageId": payload.get("message_id"),
        "from": payload.get("chat_jid"),
        "senderName": item.sender_name or payload.get("push_name") or payload.get("sender_jid") or "",
        "timestamp": _epoch(payload.get("timestamp")),
        "chatJid": payload.get("chat_jid"),
        "senderJid": payload.get("sender_jid"),
        "isFromMe": bool(payload.get("is_from_me")),
        "hasMedia": bool(payload.get("mime_type")) or payload.get("type") not in ("text", "poll", None),
        "mediaType": payload.get("type") if payload.get("type") not in ("text", "poll") else None,
    }


def _epoch(value: Any) -> int | None:
    from datetime import datetime

    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    return None


def disconnected_notification(item: FeedItem) -> dict[str, Any] | None:
    """``notifications/disconnected`` params for a session that ended: permanently, or after the
    reconnect schedule ran out. A QR window closing is not a disconnect."""
    payload = item.payload
    reason = payload.get("reason") or payload.get("error_code") or "disconnected"
    if item.type == EventType.DEVICE_DISCONNECTED and reason == "qr_expired":
        return None
    permanent = bool(payload.get("permanent")) or is_permanent(reason) or item.type == EventType.DEVICE_LOGGED_OUT
    if permanent:
        message = (f"The WhatsApp session ended ({reason}); the stored session was removed. Call authenticate "
                   "with a phone number to link again.")
    else:
        message = (f"The connection dropped ({reason}) and reconnecting failed after every attempt. Call "
                   "authenticate without a phone number to reconnect.")
    return {"reason": reason, "permanent": permanent, "message": message}


def _preview(payload: dict[str, Any], sender: str) -> str:
    text = payload.get("text") or payload.get("caption") or ""
    if text:
        shown = text if len(text) <= 60 else text[:59] + "…"
        return f"{sender}: {shown}"
    return f"{sender}: [{payload.get('type') or 'message'}]"


class DeviceFeed:
    def __init__(self, device_id: uuid.UUID) -> None:
        self.device_id = device_id
        self.subscribers: set[Notifiable] = set()
        self.waiters: set[Waiter] = set()
        self.last = -1  # unknown until started
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self.last = await sync_to_async(_head, thread_sensitive=False)(self.device_id)
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mcp-feed-{self.device_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def add_waiter(self, accepts: Callable[[FeedItem], bool]) -> Waiter:
        """Register a wait. Only events after this moment count (no backlog, reference §3.3)."""
        waiter = Waiter(accepts)
        self.waiters.add(waiter)
        self._wake.set()  # poll at once, so a wait sees a message that lands right after it
        return waiter

    def remove_waiter(self, waiter: Waiter) -> None:
        self.waiters.discard(waiter)

    async def _run(self) -> None:
        while True:
            try:
                items = await sync_to_async(_read, thread_sensitive=False)(self.device_id, self.last)
            except DatabaseError:
                logger.warning("event feed of device %s: database unavailable, retrying", self.device_id)
                items = []
            for item in items:
                await self._deliver(item)
                self.last = item.sequence
            if len(items) < BATCH:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL_S)

    async def _deliver(self, item: FeedItem) -> None:
        if item.type == EventType.MESSAGE:
            params = message_notification(item)
            for waiter in list(self.waiters):
                if not waiter.future.done() and waiter.accepts(item):
                    waiter.future.set_result(item)
            if params is not None:
                log = {"level": "info", "logger": "whatsapp",
                       "data": _preview(item.payload, params["senderName"])}
                await self._broadcast("notifications/message_received", params)
                await self._broadcast("notifications/message", log)
        elif item.type in (EventType.DEVICE_DISCONNECTED, EventType.DEVICE_LOGGED_OUT, EventType.DEVICE_DESTROYED):
            reason = item.payload.get("reason") or item.type
            if reason == "qr_expired":
                return
            for waiter in list(self.waiters):
                if not waiter.future.done():
                    waiter.future.set_exception(Cancelled(reason))
            params = disconnected_notification(item)
            if params is not None and item.type != EventType.DEVICE_LOGGED_OUT:  # one notice per session end
                await self._broadcast("notifications/disconnected", params)
        elif item.type == EventType.APPROVAL_RESOLVED:
            payload = item.payload
            await self._broadcast("notifications/approval_resolved", {
                "requestId": payload.get("request_id"), "status": str(payload.get("status") or "").upper(),
                "respondedAt": payload.get("responded_at"), "source": payload.get("source")})

    async def _broadcast(self, method: str, params: dict[str, Any]) -> None:
        for subscriber in list(self.subscribers):
            try:
                await subscriber.notify(method, params)
            except Exception:  # best-effort: a broken stream never fails the feed
                logger.debug("dropped %s for a closed MCP stream", method, exc_info=True)
                self.subscribers.discard(subscriber)


_feeds: dict[uuid.UUID, DeviceFeed] = {}


async def feed_for(device_id: uuid.UUID) -> DeviceFeed:
    """This process's feed of the device, started on first use."""
    feed = _feeds.get(device_id)
    if feed is None:
        feed = _feeds[device_id] = DeviceFeed(device_id)
    await feed.start()
    return feed
