"""``send_message`` (reference/mcp-tools.md §2.4): resolve → whitelist → token → send, with one
automatic retry after 2 s when WhatsApp's answer was a transient failure.

The message goes through the durable outbox (:func:`whatsapp.services.messages.send_message`), so it
is stored at once as our own message and is never lost: when WhatsApp has not confirmed it within the
send wait, the result says it is queued, with the message id it will carry.
"""

from __future__ import annotations

import time

from whatsapp.errors import Category, ErrorCode, WhatsAppError
from whatsapp.mcp import formatting as fmt
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import ToolResult, lines, text, tool
from whatsapp.models import DeliveryStatus, Message
from whatsapp.services import messages as outbox
from whatsapp.services.messages import MAX_TEXT_CHARS, Outgoing
from whatsapp.services.recipients import resolve

RETRY_DELAY_S = 2.0  # §2.4: one automatic retry, 2 s after a transient failure


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def _transient_failure(device_id: object, error: WhatsAppError) -> bool:
    """Whether WhatsApp refused an accepted message for a transient reason, so that sending it again
    cannot duplicate it: the stored attempt must have ended ``failed`` (a queued one may still go)."""
    message_id = error.details.get("message_id")
    if not message_id or error.code.category is not Category.TRANSIENT:
        return False
    status = Message.objects.filter(device_id=device_id, wa_id=message_id).values_list("status", flat=True).first()
    return status == DeliveryStatus.FAILED


def _send_failed(error: WhatsAppError, jid: str, attempts: int) -> WhatsAppError:
    """WhatsApp's refusal of an accepted message, after the retries, as ``MESSAGE_SEND_FAILED``
    naming WhatsApp's own reason (``details.cause``) and the stored, failed message."""
    details = {"jid": jid, "attempts": attempts, "cause": error.code.code, "cause_message": error.message}
    if error.details.get("message_id"):
        details["message_id"] = error.details["message_id"]
    retried = "after one automatic retry" if attempts > 1 else "(not retried: the failure is not transient)"
    return WhatsAppError(ErrorCode.MESSAGE_SEND_FAILED,
                         f"WhatsApp did not accept the message to {jid} {retried}: {error.code.code}: {error.message}",
                         details=details)


@tool("send_message", "Send a WhatsApp text message to a person or group, named by JID, phone number or chat "
      "name (the name must match one chat clearly).",
      text("to", "Recipient: a JID (<digits>@s.whatsapp.net, <digits>@lid, <id>@g.us), a phone number in "
           "international format (+15551234567), or a chat/contact name.", required=True, max_length=200),
      text("message", "The text to send, 1 to 4096 characters.", required=True, min_length=1,
           max_length=MAX_TEXT_CHARS),
      live=True, rate="outbound",
      response="Labelled lines: To (display name), JID, Message ID, Status (sent or queued), Sent at (or Queued "
               "at) in the configured zone, and Attempts when the automatic retry was used.",
      errors=(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT,
              ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, ErrorCode.MESSAGE_RATE_LIMITED,
              ErrorCode.MESSAGE_SEND_FAILED),
      examples=('send_message(to="+15551234567", message="On my way")',
                'send_message(to="Mom", message="Landed safely")',
                'send_message(to="120363041234567890@g.us", message="Meeting moved to 3 pm")'),
      related=("search_contacts", "list_chats", "list_messages", "send_file"),
      pitfalls=("A name that matches several chats equally well is refused with MESSAGE_AMBIGUOUS_RECIPIENT "
                "listing the candidates; retry with the exact JID.",
                "A phone number is never matched to a nearby contact: it is sent to exactly that number.",
                "Status \"queued\" means WhatsApp has not confirmed yet; the message stays in the outbox and "
                "is sent once the device can, with the Message ID shown.",
                "A refused call (bad recipient, whitelist, not connected) uses no rate-limit token; a call "
                "WhatsApp refuses still used its token."))
def send_message(call: ToolCall) -> ToolResult:
    device = call.device
    recipient = resolve(device, call["to"], field="to")
    call.audit["jid"] = recipient.jid
    call.ensure_allowed(recipient.jid)
    body = call["message"]
    if not body.strip():
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "message must contain text, not only whitespace.",
                            details={"field": "message"})
    call.take("outbound")
    attempts = 1
    try:
        try:
            message = outbox.send_message(device, Outgoing(to=recipient.jid, text=body))
        except WhatsAppError as error:
            if not _transient_failure(device.pk, error):
                raise
            _pause(RETRY_DELAY_S)
            attempts = 2
            message = outbox.send_message(device, Outgoing(to=recipient.jid, text=body))
    except WhatsAppError as error:
        if error.details.get("message_id"):  # accepted, then refused by WhatsApp
            raise _send_failed(error, recipient.jid, attempts) from error
        raise
    call.audit.update({"message_id": message.wa_id, "status": message.status, "attempts": attempts})
    shown = recipient.name if recipient.name not in (recipient.jid, *recipient.twins) else call["to"].strip()
    queued = message.status == DeliveryStatus.QUEUED
    moment = message.sent_at or message.timestamp
    head = "Message queued (WhatsApp has not confirmed it yet)" if queued else "Message sent"
    body_lines = lines(
        ("To", shown), ("JID", recipient.jid), ("Message ID", message.wa_id), ("Status", message.status),
        ("Queued at" if queued else "Sent at", fmt.when(moment)),
        ("Attempts", attempts if attempts > 1 else None),
        ("Note", "it stays in the outbox and is sent as soon as the device can; list_messages shows its status"
         if queued else None),
    )
    data = {"to": call["to"], "name": shown, "jid": recipient.jid, "resolved_by": recipient.how,
            "message_id": message.wa_id, "status": message.status, "queued": queued,
            "sent_at": fmt.iso(message.sent_at), "timestamp": fmt.iso(moment), "attempts": attempts}
    return ToolResult(f"{head}\n{body_lines}", data)
