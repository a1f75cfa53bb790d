"""The approval tools: request_approval and check_approvals (reference §2.12, §2.13, §3.1)."""

from __future__ import annotations

from typing import Any

from approvals.models import Approval, ApprovalStatus
from approvals.services import expire_due, get_approval, list_approvals, request_approval
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp import formatting as fmt
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import ToolResult, integer, lines, text, tool

RECIPIENT = "Recipient: a JID, a phone number with country code, or a contact or chat name."


def _recipient(call: ToolCall, to: str) -> tuple[str, str]:
    from whatsapp.services.recipients import resolve

    resolved = resolve(call.device, to, field="to")
    return resolved.jid, resolved.name


def _describe(approval: Approval) -> dict[str, Any]:
    return {"request_id": approval.pk, "action": approval.action, "details": approval.details,
            "recipient_jid": approval.recipient_jid, "status": approval.status.upper(),
            "created_at": fmt.iso(approval.created_at), "expires_at": fmt.iso(approval.expires_at),
            "seconds_remaining": approval.seconds_left, "response_text": approval.response_text or None,
            "responded_at": fmt.iso(approval.responded_at), "decided_by": approval.decided_by or None}


@tool("request_approval", "Ask a person over WhatsApp to approve or deny an action; they answer by replying "
      "APPROVE/YES or DENY/NO. Returns a request ID to poll with check_approvals.",
      text("to", RECIPIENT, required=True, max_length=200),
      text("action", "What needs approval, e.g. \"Deploy v2.3 to production\".", required=True, min_length=1,
           max_length=500),
      text("details", "Context for the decision.", required=True, max_length=2000),
      integer("timeout", "Seconds before the request expires (10-3600).", minimum=10, maximum=3600, default=300,
              kind="number"),
      live=True, rate="outbound",
      response="Request ID, action, recipient JID and name, expiry (time with zone and seconds).",
      errors=(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT,
              ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, ErrorCode.MESSAGE_RATE_LIMITED,
              ErrorCode.MESSAGE_SEND_FAILED),
      examples=('request_approval(to="+14155550123", action="Refund order 1234", details="Amount: $80", '
                'timeout=600)',),
      related=("check_approvals", "wait_for_message"),
      pitfalls=("Replies quoting another request's ID never answer this one.",
                "A failed send leaves no pending approval behind."))
def request_approval_tool(call: ToolCall) -> ToolResult:
    jid, name = _recipient(call, call["to"])
    call.ensure_allowed(jid)
    call.audit["recipient_jid"] = jid
    call.take("outbound")
    approval = request_approval(call.device, jid, call["action"], call["details"], call["timeout"])
    call.audit["request_id"] = approval.pk
    body = lines(("Approval requested", approval.pk), ("Request ID", approval.pk), ("Action", approval.action),
                 ("To", f"{name} ({jid})"), ("Recipient JID", jid),
                 ("Expires", f"{fmt.when_zoned(approval.expires_at)} (in {approval.timeout_seconds} s)"))
    body += "\nNext step: call check_approvals with this request_id for the answer."
    data = _describe(approval) | {"recipient_name": name, "timeout_seconds": approval.timeout_seconds}
    return ToolResult(body, data)


@tool("check_approvals", "Show one approval request's status and answer, or every pending request.",
      text("request_id", "An approval ID (approval_…); omit to list the pending requests.", max_length=200),
      read_only=True,
      response="With an ID: status PENDING/APPROVED/DENIED/EXPIRED with time left, the answer or the expiry. "
               "Without: the pending requests.",
      errors=(ErrorCode.NOT_FOUND,),
      examples=("check_approvals()", 'check_approvals(request_id="approval_1733234567890_k3j9x2a")'),
      related=("request_approval",),
      pitfalls=("Requests to contacts outside ALLOWED_CONTACTS are hidden.",))
def check_approvals(call: ToolCall) -> ToolResult:
    request_id = (call["request_id"] or "").strip()
    if request_id:
        approval = get_approval(call.device, request_id)
        if not call.allowed(approval.recipient_jid):
            raise WhatsAppError(ErrorCode.NOT_FOUND, "No such approval for this device.",
                                details={"request_id": request_id})
        return ToolResult(_one(approval), _describe(approval))
    expire_due(device=call.device)
    pending = [a for a in list_approvals(call.device, status=ApprovalStatus.PENDING) if call.allowed(a.recipient_jid)]
    if not pending:
        return ToolResult("Pending approvals: 0\nNo approval requests are waiting for an answer.",
                          {"pending_count": 0, "pending": []})
    blocks = [lines(("Request ID", a.pk), ("Action", a.action), ("Recipient", a.recipient_jid),
                    ("Seconds remaining", a.seconds_left), ("Details", a.details)) for a in pending]
    return ToolResult(f"Pending approvals: {len(pending)}\n\n" + "\n\n".join(blocks),
                      {"pending_count": len(pending), "pending": [_describe(a) for a in pending]})


def _one(approval: Approval) -> str:
    head = lines(("Request ID", approval.pk), ("Action", approval.action), ("Details", approval.details),
                 ("Recipient", approval.recipient_jid), ("Status", approval.status.upper()))
    if approval.status == ApprovalStatus.PENDING:
        tail = lines(("Seconds remaining", approval.seconds_left), ("Expires", fmt.when_zoned(approval.expires_at)))
    elif approval.status == ApprovalStatus.EXPIRED:
        tail = lines(("Expired at", fmt.when_zoned(approval.responded_at or approval.expires_at)))
    else:
        tail = lines(("Response", approval.response_text or f"(decided by {approval.decided_by})"),
                     ("Responded at", fmt.when_zoned(approval.responded_at)))
    return f"{head}\n{tail}"
