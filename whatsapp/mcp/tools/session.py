"""The session tools: disconnect, authenticate and get_connection_status (reference §2.1 to §2.3)."""

from __future__ import annotations

from whatsapp.errors import ErrorCode
from whatsapp.mcp import formatting as fmt
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import ToolResult, lines, tool
from whatsapp.services.status import device_state


@tool("get_connection_status", "Show whether WhatsApp is connected (with our JID and uptime), why not, recent "
      "errors, and what the local store holds (chats, messages, unread, pending approvals).",
      read_only=True, idempotent=True,
      response="State, JID, uptime or the way back, errors in the last 5 minutes, store statistics.",
      examples=("get_connection_status()",), related=("authenticate", "disconnect"))
def get_connection_status(call: ToolCall) -> ToolResult:
    state = device_state(call.device)
    stats = state.stats
    if state.state == "connected":
        up = int((fmt.timezone.now() - state.connected_since).total_seconds()) if state.connected_since else 0
        head = ["Status: connected (session verified)", f"JID: {state.jid}",
                f"Uptime: {up // 3600} h {up % 3600 // 60} min"]
    elif state.state == "disconnected":
        advice = ("reconnecting automatically" if state.reconnecting else
                  "call authenticate without a phone number to reconnect, or disconnect to re-link")
        head = ["Status: disconnected (a session is stored)", f"JID: {state.jid or 'unknown'}",
                f"Last error: {state.last_error_code or 'none'}", f"Next step: {advice}"]
    else:
        head = ["Status: not linked", "Next step: call authenticate with a phone number to link this device"]
    tail = lines(("Errors in the last 5 minutes", state.recent_errors or None),
                 ("Last disconnect reason", state.last_disconnect_reason))
    store = lines(("Chats", stats.chats), ("Messages", stats.messages), ("Unread", stats.unread),
                  ("Pending approvals", stats.pending_approvals),
                  ("Newest message", fmt.when(stats.newest_message_at, never="none")))
    text = "\n".join([*head, *([tail] if tail else []), "", "Store:", store])
    data = {"state": state.state, "connected": state.state == "connected", "jid": state.jid or None,
            "connected_since": fmt.iso(state.connected_since), "reconnecting": state.reconnecting,
            "last_error_code": state.last_error_code or None, "recent_errors": state.recent_errors,
            "last_disconnect_reason": state.last_disconnect_reason or None,
            "store": {"chats": stats.chats, "messages": stats.messages, "unread": stats.unread,
                      "pending_approvals": stats.pending_approvals,
                      "newest_message_at": fmt.iso(stats.newest_message_at)}}
    return ToolResult(text, data)


_ = ErrorCode  # session tools below (authenticate, disconnect) use the enum directly
