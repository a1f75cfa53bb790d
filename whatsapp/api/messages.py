"""Message endpoints: send (``whatsapp.api.sends``), history (here), and react / edit / revoke /
mark read (``whatsapp.api.message_actions``) — all on this one router, which the site registers."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from whatsapp.api import message_actions, sends
from whatsapp.api.lookups import device_of
from whatsapp.api.message_schemas import History, HistoryFilters, SendMessage, SentMessage
from whatsapp.api.responses import responses
from whatsapp.api.schemas import Data
from whatsapp.errors import ErrorCode as E
from whatsapp.services.history import list_messages
from whatsapp.services.payloads import message_payload

# Send and history share a path, so they must share a router (Django matches the first pattern of a
# path, and ninja makes one pattern per router and path); the actions' paths are their own.
router = Router(tags=["messages"])
router.add_router("", message_actions.router)


@router.post("/devices/{device_id}/messages",
             response=responses({200: Data[SentMessage], 202: Data[SentMessage]}, *sends.SEND_ERRORS),
             exclude_unset=True, summary="Send a message (text, media, contact, location, poll)")
def send(request: HttpRequest, device_id: uuid.UUID, body: SendMessage, response: HttpResponse,
         idempotency_key: sends.IdempotencyHeader = None, prefer: sends.PreferHeader = None) -> Status:
    """Accepted messages are stored before anything else: 200 `sent` once WhatsApp acknowledged it
    within the wait (`SEND_WAIT_SECONDS`), else 202 `queued` (it goes out when it can; follow it via
    webhooks or the history); `Prefer: respond-async` answers 202 at once. A refusal by WhatsApp after
    acceptance carries `details.message_id`. For media kinds the text is `caption`, and the file
    comes from exactly one of `url`/`data_base64` (sniffed; `mime_type` is checked against it)."""
    return sends.send(request, device_id, body, response, idempotency_key, prefer)


@router.get("/devices/{device_id}/messages",
            response=responses({200: Data[History]}, E.NOT_FOUND, E.SEARCH_QUERY_TOO_LONG), exclude_unset=True,
            summary="Message history, newest first, with cursor pagination")
def history(request: HttpRequest, device_id: uuid.UUID, filters: Query[HistoryFilters]) -> dict:
    """Both directions, live and history-sync messages. Pass `next_cursor` back as `cursor` for the
    next (older) page; pages are stable while new messages arrive. A destroyed device's history stays
    readable. `q` is a full-text query: keywords (all required), `"phrases"`, `prefix*` and upper-case
    `AND`, `OR`, `NOT`; case and accents are ignored."""
    page = list_messages(device_of(request, device_id, alive=False), chat_jid=filters.chat_jid,
                         direction=filters.direction, before=filters.before, after=filters.after, q=filters.q,
                         limit=filters.limit, cursor=filters.cursor)
    return {"data": {"messages": [message_payload(message) for message in page.messages],
                     "next_cursor": page.next_cursor}}
