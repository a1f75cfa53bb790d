"""Approvals over REST (SPEC §9; reference/mcp-tools.md §2.12, §2.13): ask someone over WhatsApp to
approve or deny an action, list a device's approvals (cursor pages, with the pending count), read
one, and decide one on the client's behalf.

Thin views over ``approvals.services`` — the same use cases the MCP tools and the admin call — whose
errors (``validation_error``, ``approval_*``, ``device_not_connected``, WhatsApp's refusals of the
request message, ``not_found``) leave through the API's shared exception handlers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import StrictFloat, field_validator

from approvals import services
from approvals.models import DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S, MIN_TIMEOUT_S, Approval, ApprovalStatus, DecisionSource
from whatsapp.api import sends
from whatsapp.api.lookups import device_of, path_text
from whatsapp.api.message_schemas import no_nul
from whatsapp.api.responses import responses
from whatsapp.api.schemas import Body, Data
from whatsapp.errors import ErrorCode as E
from whatsapp.services.history import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor

router = Router(tags=["approvals"])

State = Literal[services.STATUSES]  # type: ignore[valid-type]
Source = Literal[tuple(DecisionSource.values)]  # type: ignore[valid-type]
ApprovalId = Annotated[str, Path(description="The approval's `request_id` (`approval_<epoch ms>_<7 chars>`); "
                                             "any other value is `not_found`.")]
MAX_ID_CHARS = 64  # Approval.id's column

# Refusals before the request message is accepted (the device, the input, the recipient), then what
# WhatsApp may answer to the message within the wait (the approval is deleted then: nobody got it).
REQUEST_ERRORS = (
    E.NOT_FOUND, E.DEVICE_DESTROYED, E.MESSAGE_NOT_CONNECTED, E.APPROVAL_INVALID_TIMEOUT,
    E.APPROVAL_RECIPIENT_NOT_FOUND, E.GROUP_POSTING_RESTRICTED, E.GROUP_PREKEY_TIMEOUT, E.PROVIDER_RATE_LIMITED,
    E.MESSAGE_RECIPIENT_NOT_FOUND, E.MESSAGE_SEND_FAILED, E.CLIENT_OUTDATED, E.FORBIDDEN, E.REQUEST_CANCELED,
    E.CONNECTION_LOST, E.CONNECTION_TIMEOUT, E.PROVIDER_ERROR, E.WHATSAPP_ERROR,
)
RESPOND_ERRORS = (E.NOT_FOUND, E.APPROVAL_ALREADY_RESPONDED, E.APPROVAL_TIMEOUT)


class _Text:
    """String fields are checked by :func:`no_nul` (PostgreSQL text cannot hold NUL)."""

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return no_nul(value)


class RequestApproval(_Text, Body):
    to: str = Field(min_length=1, max_length=200,
                    description="Who decides: a phone number in international form, or an exact JID.")
    action: str = Field(min_length=1, max_length=services.MAX_ACTION_CHARS,
                        description="What is to be approved (not blank).")
    details: str | None = Field(None, max_length=services.MAX_DETAILS_CHARS, description="Context for the decision.")
    timeout: StrictFloat | None = Field(
        None, description=f"Seconds until it expires, {MIN_TIMEOUT_S}-{MAX_TIMEOUT_S} (default "
                          f"{DEFAULT_TIMEOUT_S}); outside that range is `approval_invalid_timeout` (400).",
        json_schema_extra={"minimum": MIN_TIMEOUT_S, "maximum": MAX_TIMEOUT_S, "default": DEFAULT_TIMEOUT_S})


class RespondApproval(_Text, Body):
    decision: Literal["approve", "deny"]
    text: str | None = Field(None, max_length=4096, description="Stored as the approval's `response_text`.")


class ApprovalFilters(_Text, Schema):
    status: State | None = Field(None, description="Only approvals in this status.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=500, description="`next_cursor` of the previous page.")


class ApprovalOut(Schema):
    request_id: str = Field(description="The approval's id; a reply quoting it answers this approval only.")
    device_id: uuid.UUID
    recipient_jid: str = Field(description="Who was asked (the resolved JID).")
    action: str
    details: str
    timeout_seconds: int
    status: State = Field(description="pending, approved, denied or expired (a decided approval never changes).")
    seconds_left: int = Field(description="Until it expires; 0 unless pending.")
    response_text: str | None = Field(description="The deciding reply's text (or the API's `text`).")
    decided_by: Source | None = Field(description="reply, operator (admin), api or expiry; null while pending.")
    decided_by_user: str | None = Field(description="The operator who decided in the admin.")
    request_message_id: str | None = Field(description="The WhatsApp message that asked.")
    created_at: datetime
    expires_at: datetime
    responded_at: datetime | None = Field(description="When it was decided or expired.")


class ApprovalPage(Schema):
    approvals: list[ApprovalOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null at the end.")
    pending: int = Field(description="The device's pending approvals (all of them, whatever the filters).")


def approval_out(approval: Approval) -> dict[str, Any]:
    return {
        "request_id": approval.pk, "device_id": approval.device_id, "recipient_jid": approval.recipient_jid,
        "action": approval.action, "details": approval.details, "timeout_seconds": approval.timeout_seconds,
        "status": approval.status, "seconds_left": approval.seconds_left,
        "response_text": approval.response_text or None, "decided_by": approval.decided_by or None,
        "decided_by_user": approval.decided_by_user or None, "request_message_id": approval.request_wa_id or None,
        "created_at": approval.created_at, "expires_at": approval.expires_at, "responded_at": approval.responded_at,
    }


# --- cursor pages ---------------------------------------------------------------------------------
# The order is (created_at, id) descending, a unique pair, so pages never repeat or skip an approval,
# also while new ones arrive. The cursor is the message history's, with the (string) id as its key.


def page(rows: QuerySet[Approval], limit: int, cursor: str | None) -> tuple[list[Approval], str | None]:
    """One page of ``rows``, newest first, and the cursor of the next one."""
    rows = rows.order_by("-created_at", "-pk")
    if cursor:
        stamp, pk = decode_cursor(cursor, str, MAX_ID_CHARS)
        rows = rows.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, pk__lt=pk))
    found = list(rows[:limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return found, encode_cursor(found[-1].created_at, found[-1].pk) if more and found else None


# --- the endpoints --------------------------------------------------------------------------------


@router.post("/devices/{device_id}/approvals", response=responses({201: Data[ApprovalOut]}, *REQUEST_ERRORS),
             summary="Ask someone over WhatsApp to approve or deny an action")
def request_approval(request: HttpRequest, device_id: uuid.UUID, body: RequestApproval, response: HttpResponse,
                     prefer: sends.PreferHeader = None) -> Status:
    """Sends the request message (the action, the details, how to answer — APPROVE/YES or DENY/NO —
    the request id and the expiry) and answers 201 with the `pending` approval. The approval exists
    only with its accepted message: a refusal by WhatsApp within the wait (`SEND_WAIT_SECONDS`; none
    with `Prefer: respond-async`) deletes it and answers the refusal. The recipient's reply, an
    operator, `POST …/respond` or the clock decides it; each emits an `approval_resolved` webhook."""
    device = device_of(request, device_id)
    wait_s = None
    if sends.wants_async(prefer):
        wait_s = 0.0
        response["Preference-Applied"] = "respond-async"
    timeout = DEFAULT_TIMEOUT_S if body.timeout is None else body.timeout
    approval = services.request_approval(device, body.to, body.action, body.details or "", timeout, wait_s=wait_s)
    return Status(201, {"data": approval_out(approval)})


@router.get("/devices/{device_id}/approvals", response=responses({200: Data[ApprovalPage]}, E.NOT_FOUND),
            summary="The device's approvals, newest first, with cursor pagination and the pending count")
def list_approvals(request: HttpRequest, device_id: uuid.UUID, filters: Query[ApprovalFilters]) -> dict:
    """Overdue approvals are expired first, so none is ever shown pending past its deadline. Pass
    `next_cursor` back as `cursor` for the next (older) page. A destroyed device's approvals stay
    readable."""
    device = device_of(request, device_id, alive=False)
    rows = services.list_approvals(device, status=filters.status)
    found, next_cursor = page(rows, filters.limit, filters.cursor)
    pending = Approval.objects.filter(device=device, status=ApprovalStatus.PENDING).count()
    return {"data": {"approvals": [approval_out(approval) for approval in found], "next_cursor": next_cursor,
                     "pending": pending}}


@router.get("/devices/{device_id}/approvals/{approval_id}",
            response=responses({200: Data[ApprovalOut]}, E.NOT_FOUND), summary="One approval")
def get_approval(request: HttpRequest, device_id: uuid.UUID, approval_id: ApprovalId) -> dict:
    """An overdue approval is expired first."""
    approval = services.get_approval(device_of(request, device_id, alive=False), path_text(approval_id, "approval_id"))
    return {"data": approval_out(approval)}


@router.post("/devices/{device_id}/approvals/{approval_id}/respond",
             response=responses({200: Data[ApprovalOut]}, *RESPOND_ERRORS),
             summary="Approve or deny a pending approval on the client's behalf")
def respond(request: HttpRequest, device_id: uuid.UUID, approval_id: ApprovalId, body: RespondApproval) -> dict:
    """The first decision wins, whoever makes it (a reply, an operator, the API): an approval decided
    already is `approval_already_responded` (409, `details.status` says how), one past its deadline is
    `approval_timeout` (408; it is expired then, if it was not yet). Recorded with `decided_by: api`.
    Deciding needs no WhatsApp connection; nothing is sent to the recipient."""
    approval = services.get_approval(device_of(request, device_id, alive=False), path_text(approval_id, "approval_id"))
    services.respond(approval, body.decision == "approve", DecisionSource.API, text=body.text or "")
    return {"data": approval_out(approval)}
