"""Small helpers that create domain objects for tests: plain functions, unique names by default."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import OperationalError, connection
from django.utils import timezone

from approvals.models import Approval
from whatsapp.engine.base import InboundMessage, ReceiptReceived, ReceiptStatus
from whatsapp.models import (
    App,
    Chat,
    CommandState,
    Contact,
    DeliveryStatus,
    Device,
    DeviceCommand,
    Direction,
    Message,
    Tenant,
)

_counter = itertools.count(1)


def _next() -> int:
    return next(_counter)


def make_tenant(name: str | None = None, **fields: Any) -> Tenant:
    n = _next()
    return Tenant.objects.create(name=name or f"Tenant {n}", slug=fields.pop("slug", f"tenant-{n}"), **fields)


def make_app_with_token(tenant: Tenant | None = None, name: str | None = None, **fields: Any) -> tuple[App, str]:
    """An app and its bearer token (the only time the token is visible)."""
    return App.create_with_token(tenant or make_tenant(), name or f"app-{_next()}", **fields)


def make_app(tenant: Tenant | None = None, name: str | None = None, **fields: Any) -> App:
    return make_app_with_token(tenant, name, **fields)[0]


def make_device(app: App | None = None, name: str | None = None) -> Device:
    """A fresh device (status ``qr_generated``, no QR yet) created through ``Device.create``."""
    return Device.create(app or make_app(), name or f"device-{_next()}")


def make_connected_device(app: App | None = None, name: str | None = None,
                          phone_jid: str = "15550001111@s.whatsapp.net", lid: str = "") -> Device:
    device = make_device(app, name)
    device.mark_connected(phone_jid, lid=lid)
    return device


def make_chat(device: Device, jid: str = "15551234567@s.whatsapp.net", **fields: Any) -> Chat:
    fields.setdefault("kind", Chat.kind_of(jid))
    return Chat.objects.create(device=device, jid=jid, **fields)


def make_contact(device: Device, *, phone_jid: str | None = None, lid: str | None = None, **fields: Any) -> Contact:
    return Contact.objects.create(device=device, phone_jid=phone_jid, lid=lid, **fields)


def make_message(device: Device, chat: Chat | None = None, wa_id: str | None = None, **fields: Any) -> Message:
    fields.setdefault("direction", Direction.INBOUND)
    return Message.objects.create(
        device=device, chat=chat or make_chat(device, f"1555{_next():07d}@s.whatsapp.net"),
        wa_id=wa_id or f"WAID{_next()}", **fields,
    )


def make_approval(device: Device, recipient_jid: str = "15551234567@s.whatsapp.net", **fields: Any) -> Approval:
    fields.setdefault("action", "Deploy to production")
    return Approval.objects.create(device=device, recipient_jid=recipient_jid, **fields)


def make_linking_device(app: App | None = None, name: str | None = None, *, window_s: float = 160) -> Device:
    """A device showing a QR code whose window ends ``window_s`` from now (negative: already over)."""
    device = make_device(app, name)
    device.record_qr(f"QR-{_next()}", timezone.now() + timedelta(seconds=window_s))
    return device


def connected_device(app: App | None = None, name: str | None = None,
                     phone_jid: str = "15550001111@s.whatsapp.net", lid: str = "") -> Device:
    """A device in ``connected`` / ``open`` state, as ``Device.mark_connected`` leaves it."""
    device = make_connected_device(app, name, phone_jid=phone_jid, lid=lid)
    device.refresh_from_db()
    return device


def make_inbound(chat_jid: str = "15551234567@s.whatsapp.net", *, wa_id: str | None = None,
                 sender_jid: str | None = None, timestamp: datetime | None = None, **fields: Any) -> InboundMessage:
    """An engine ``InboundMessage`` (unique id, sent now by the chat's person unless told otherwise)."""
    return InboundMessage(
        wa_id=wa_id or f"IN{_next():08d}", chat_jid=chat_jid,
        sender_jid=chat_jid if sender_jid is None else sender_jid,
        timestamp=timestamp or timezone.now(), **fields,
    )


def make_outbound(device: Device, wa_id: str, status: str = DeliveryStatus.SENT,
                  chat_jid: str = "15551234567@s.whatsapp.net") -> Message:
    """A message we sent to ``chat_jid`` (its chat made on first use), as a receipt finds it."""
    chat = device.chats.filter(jid=chat_jid).first() or make_chat(device, chat_jid)
    return make_message(device, chat, wa_id=wa_id, direction=Direction.OUTBOUND, from_me=True, status=status)


def make_receipt(status: ReceiptStatus, *wa_ids: str, at: datetime | None = None,
                 chat_jid: str = "15551234567@s.whatsapp.net") -> ReceiptReceived:
    """An engine receipt from the person of ``chat_jid`` for ``wa_ids`` (now unless ``at``)."""
    return ReceiptReceived(chat_jid=chat_jid, sender_jid=chat_jid, wa_ids=wa_ids, status=status,
                           timestamp=at or timezone.now())


class RunnerSide:
    """The runner half of request/reply through the database, in a thread: after ``delay_s`` it
    claims the device's pending commands and hands each to ``answer`` (which succeeds or fails it).
    Use as a context manager; leaving it joins the thread and re-raises what went wrong there."""

    def __init__(self, device_id: Any, answer: Callable[[DeviceCommand], None], *, delay_s: float = 0.05,
                 give_up_s: float = 10.0) -> None:
        self.device_id, self.answer, self.delay_s, self.give_up_s = device_id, answer, delay_s, give_up_s
        self.handled: list[DeviceCommand] = []
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._work, daemon=True)

    @staticmethod
    def _dirty_reads(on: bool) -> None:
        """The SQLite test database is in memory with a shared cache, where a read that meets the other
        thread's write fails at once with "database table is locked" (no busy timeout). The waiting
        side only reads, so its reads skip the table locks while the runner side works."""
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA read_uncommitted = {int(on)}")

    def _queued(self) -> bool:
        """Whether a command waits — read before claiming, because a claim (a write) racing the
        request's own writes on the in-memory test database fails one side with "table is locked"."""
        with contextlib.suppress(OperationalError):
            return DeviceCommand.objects.filter(device_id=self.device_id, state=CommandState.PENDING).exists()
        return False

    def _work(self) -> None:
        try:
            time.sleep(self.delay_s)
            give_up_at = time.monotonic() + self.give_up_s
            while not self.handled and time.monotonic() < give_up_at:
                if not self._queued():
                    time.sleep(0.01)
                    continue
                for command in DeviceCommand.claim(self.device_id):
                    self.answer(command)
                    self.handled.append(command)
                if not self.handled:
                    time.sleep(0.01)
        except BaseException as exc:  # reported to the test's thread
            self.errors.append(exc)
        finally:
            connection.close()

    def __enter__(self) -> RunnerSide:
        self._dirty_reads(True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join(timeout=self.give_up_s + 5)
        self._dirty_reads(False)
        assert not self._thread.is_alive(), "the runner side hung"
        if self.errors:
            raise self.errors[0]


class ScriptedRunner(RunnerSide):
    """A runner side answering exactly the next ``len(answers)`` commands, one at a time and in order
    (a tool that asks WhatsApp twice, or retries a send, gets its second command answered while it
    waits)."""

    def __init__(self, device_id: Any, answers: list[Callable[[DeviceCommand], None]], **kwargs: Any) -> None:
        super().__init__(device_id, lambda command: None, **kwargs)
        self.answers = list(answers)

    def _work(self) -> None:
        try:
            time.sleep(self.delay_s)
            give_up_at = time.monotonic() + self.give_up_s
            while self.answers and time.monotonic() < give_up_at:
                if not self._queued():
                    time.sleep(0.01)
                    continue
                with contextlib.suppress(OperationalError):
                    for command in DeviceCommand.claim(self.device_id):
                        self.answers.pop(0)(command)
                        self.handled.append(command)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            connection.close()
