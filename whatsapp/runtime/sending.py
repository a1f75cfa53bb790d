"""Executing a runner's claimed send commands in batches.

Each message goes to WhatsApp on its own (outside any database transaction, so no lock is held
during network I/O), and the outcomes of the whole batch are then recorded in one transaction:
message statuses, chat previews, ``message`` events (one sequence update for all) and command
states. A crash between the two leaves the commands ``running`` and their messages ``queued``;
the next runner retries them with the same WhatsApp ids, which WhatsApp deduplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from approvals.models import Approval
from whatsapp.engine import base
from whatsapp.errors import Category, ErrorCode, WhatsAppError
from whatsapp.models import (
    CommandState,
    DeliveryStatus,
    Device,
    DeviceCommand,
    DeviceEvent,
    EventType,
    Message,
)
from whatsapp.models.bulk import update_each
from whatsapp.services.ingest import touch_chat
from whatsapp.services.payloads import message_payload

logger = logging.getLogger("whatsapp.runner")

# Errors that mean "the connection is gone", not "this message is bad": the send waits for the
# reconnect and goes out then, with the same id.
CONNECTION_ERRORS = frozenset({ErrorCode.MESSAGE_NOT_CONNECTED, ErrorCode.CONNECTION_LOST})
MAX_SEND_ATTEMPTS = 3


@dataclass
class Outcome:
    command: DeviceCommand
    message: Message
    result: base.SendResult | None = None
    error: WhatsAppError | None = None


def outgoing_for(message: Message, payload: dict[str, Any]) -> base.OutgoingMessage:
    media = None
    if payload.get("media_path"):
        media = (Path(settings.MEDIA_ROOT) / payload["media_path"]).read_bytes()
    content = message.content or {}
    quoted_sender = ""
    if message.quoted_wa_id:  # the reply names the quoted message's author, as WhatsApp clients do
        quoted_sender = Message.objects.filter(device_id=message.device_id, wa_id=message.quoted_wa_id).values_list(
            "sender_jid", flat=True).first() or ""
    return base.OutgoingMessage(
        wa_id=message.wa_id, to_jid=payload["to"], kind=base.Kind(message.type), text=message.body,
        media=media, mime_type=message.media_mime_type, file_name=message.media_file_name, ptt=message.media_ptt,
        contact_name=content.get("name", ""), vcard=content.get("vcard", ""),
        latitude=content.get("latitude"), longitude=content.get("longitude"), address=content.get("address", ""),
        poll_options=tuple(content.get("options", ())), poll_selectable_count=content.get("selectable_count", 1),
        quoted_wa_id=message.quoted_wa_id, quoted_sender_jid=quoted_sender,
    )


def send_with_one_retry(engine: base.Engine, outgoing: base.OutgoingMessage) -> base.SendResult:
    """Seed 000: a transient WhatsApp failure of a send is retried once (same id)."""
    try:
        return engine.send(outgoing)
    except WhatsAppError as error:
        if error.code.category is not Category.TRANSIENT or error.code in CONNECTION_ERRORS:
            raise
        logger.info("transient send failure %s; retrying once", error.code.code)
        return engine.send(outgoing)


class SendBatch:
    """Sends claimed messages now, records their outcomes together on :meth:`flush`."""

    def __init__(self, device: Device, engine: base.Engine, on_connection_lost: Callable[[ErrorCode, str], None]):
        self.device = device
        self.engine = engine
        self.on_connection_lost = on_connection_lost
        self.outcomes: list[Outcome] = []
        self.settled: list[DeviceCommand] = []

    def prefetch(self, commands: list[DeviceCommand]) -> dict[int, Message]:
        ids = [c.message_id for c in commands if c.message_id]
        return Message.objects.select_related("chat").in_bulk(ids) if ids else {}

    def send(self, command: DeviceCommand, message: Message) -> None:
        if message.status != DeliveryStatus.QUEUED:  # settled before a crash: nothing to send again
            command.result = {"message_id": message.wa_id, "status": message.status}
            self.settled.append(command)
            return
        try:
            result = send_with_one_retry(self.engine, outgoing_for(message, command.payload))
        except WhatsAppError as error:
            if error.code in CONNECTION_ERRORS and command.attempts < MAX_SEND_ATTEMPTS:
                command.requeue()
                self.on_connection_lost(error.code, str(error))
                return
            self.outcomes.append(Outcome(command, message, error=error))
            return
        self.outcomes.append(Outcome(command, message, result=result))

    def flush(self) -> None:
        if not self.outcomes and not self.settled:
            return
        now = timezone.now()
        with transaction.atomic():
            events, messages, commands = [], [], []
            latest_by_chat: dict[int, Message] = {}
            for outcome in self.outcomes:
                message, command = outcome.message, outcome.command
                if outcome.error is not None:
                    message.status, message.error_code = DeliveryStatus.FAILED, outcome.error.code.code
                    command.state, command.error_code = CommandState.FAILED, outcome.error.code.code
                    command.error_message = str(outcome.error.message)
                    command.result = {"details": outcome.error.details}
                else:
                    result = outcome.result
                    message.wa_id, message.status = result.wa_id, DeliveryStatus.SENT
                    message.sent_at = message.timestamp = result.timestamp
                    command.state = CommandState.DONE
                    command.result = {"message_id": result.wa_id, "status": "sent", "timestamp": result.timestamp}
                    current = latest_by_chat.get(message.chat_id)
                    if current is None or message.timestamp >= current.timestamp:
                        latest_by_chat[message.chat_id] = message
                command.finished_at = now
                messages.append(message)
                commands.append(command)
                events.append((EventType.MESSAGE, message_payload(message)))
            for command in self.settled:
                command.state, command.finished_at = CommandState.DONE, now
                commands.append(command)
            Approval.discard_unsent(self.device.pk, [o.message.wa_id for o in self.outcomes if o.error is not None])
            update_each(messages, ["wa_id", "status", "error_code", "sent_at", "timestamp"])
            update_each(commands, ["state", "error_code", "error_message", "result", "finished_at"])
            for chat_id, message in latest_by_chat.items():
                touch_chat(chat_id, message)
            DeviceEvent.append_many(self.device.pk, events)
        self.outcomes, self.settled = [], []
