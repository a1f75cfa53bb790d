"""What a device does to stored messages: react, edit, revoke (each a round trip to WhatsApp through
the device's runner, stored only once WhatsApp accepted it) and mark a chat read (local first;
read receipts are a courtesy, reported as ``receipts``). Thin views over ``whatsapp.services.actions``."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Router

from whatsapp.api.lookups import device_of, path_text
from whatsapp.api.message_schemas import ActionOut, EditBody, MarkReadBody, MarkReadOut, ReactionBody, ReactionOut
from whatsapp.api.responses import responses
from whatsapp.api.schemas import Data
from whatsapp.errors import ErrorCode as E
from whatsapp.models import Message
from whatsapp.services import actions
from whatsapp.services.payloads import message_payload

router = Router(tags=["messages"])

# react/edit/revoke: the device must be connected; `not_found` for a message id this device has not
# stored; `validation_error` for a bad emoji/text or a message that cannot take the action (not our
# own, still queued, failed, already deleted, not text for an edit); then whatever WhatsApp answers
# (its refusals, its rate limit) or `upstream_timeout` when the runner did not answer in time.
ACTION_ERRORS = (E.NOT_FOUND, E.DEVICE_DESTROYED, E.MESSAGE_NOT_CONNECTED, E.CONNECTION_TIMEOUT, E.CONNECTION_LOST,
                 E.PROVIDER_RATE_LIMITED, E.PROVIDER_ERROR, E.FORBIDDEN, E.MESSAGE_SEND_FAILED, E.WHATSAPP_ERROR)


def _message_out(message: Message) -> dict:
    message = Message.objects.select_related("chat", "media_file").get(pk=message.pk)
    return message_payload(message)


def _action_out(result: actions.ActionResult) -> dict:
    return {"message": _message_out(result.message), "chat_jid": result.chat_jid,
            "action_message_id": result.action_wa_id, "timestamp": result.timestamp}


@router.post("/devices/{device_id}/messages/{message_id}/reaction",
             response=responses({200: Data[ReactionOut]}, *ACTION_ERRORS), exclude_unset=True,
             summary="React to a message with one emoji (\"\" removes the reaction)")
def react(request: HttpRequest, device_id: uuid.UUID, message_id: str, body: ReactionBody) -> dict:
    result = actions.react(device_of(request, device_id), path_text(message_id, "message_id"), body.emoji)
    return {"data": {**_action_out(result), "emoji": result.emoji, "removed": result.removed}}


@router.patch("/devices/{device_id}/messages/{message_id}",
              response=responses({200: Data[ActionOut]}, E.MESSAGE_TOO_LONG, *ACTION_ERRORS), exclude_unset=True,
              summary="Edit the text of one of this account's text messages")
def edit(request: HttpRequest, device_id: uuid.UUID, message_id: str, body: EditBody) -> dict:
    result = actions.edit_message(device_of(request, device_id), path_text(message_id, "message_id"), body.text)
    return {"data": _action_out(result)}


@router.delete("/devices/{device_id}/messages/{message_id}",
               response=responses({200: Data[ActionOut]}, *ACTION_ERRORS), exclude_unset=True,
               summary="Delete one of this account's messages for everyone (revoke)")
def revoke(request: HttpRequest, device_id: uuid.UUID, message_id: str) -> dict:
    result = actions.revoke_message(device_of(request, device_id), path_text(message_id, "message_id"))
    return {"data": _action_out(result)}


@router.post("/devices/{device_id}/chats/{jid}/read",
             response=responses({200: Data[MarkReadOut]}, E.NOT_FOUND, E.DEVICE_DESTROYED),
             summary="Mark a chat's incoming messages read (all, or message_ids)")
def mark_read(request: HttpRequest, device_id: uuid.UUID, jid: str, body: MarkReadBody | None = None) -> dict:
    """Works while the device is offline too (`receipts: offline`): the store is marked at once and
    WhatsApp read receipts are queued only for a connected device. `not_found` for an unknown chat;
    ids that are not messages of the chat are listed in `ignored`."""
    ids = body.message_ids if body is not None else None
    result = actions.mark_read(device_of(request, device_id), path_text(jid, "jid"), ids)
    return {"data": {"chat_jid": result.chat_jid, "marked": result.marked, "receipts": str(result.receipts),
                     "ignored": list(result.ignored), "error_code": result.error_code or None}}
