"""The session tools: disconnect, authenticate and get_connection_status (reference §2.1 to §2.3)."""

from __future__ import annotations

import contextlib
import time

from django.conf import settings

from whatsapp import qr
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp import formatting as fmt
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import ToolResult, flag, integer, lines, text, tool
from whatsapp.models import ConnectionState, Device, DeviceStatus
from whatsapp.phones import normalize_phone
from whatsapp.services import devices as device_services
from whatsapp.services import throttles
from whatsapp.services.commands import device_call
from whatsapp.services.status import device_state

PAIR_TRIES, PAIR_RETRY_DELAY_S = 2, 3.0
QR_REUSE_S = 15  # a QR younger than this is shown again rather than replaced
LINK_STEPS = ("On the phone: WhatsApp → Settings → Linked Devices → Link a Device → "
              "\"Link with phone number instead\", then enter the code.")


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



def _connected(device: Device) -> bool:
    return device.status == DeviceStatus.CONNECTED and device.connection_state == ConnectionState.OPEN


@tool("disconnect", "Log this device out of WhatsApp (unlink it). Chats, messages, media and approvals are "
      "kept; linking again needs authenticate with a phone number.",
      destructive=True,
      response="That the device is unlinked, the JID logged out, and how to link again.",
      errors=(ErrorCode.WHATSAPP_ERROR,),
      examples=("disconnect()",), related=("authenticate", "get_connection_status"),
      pitfalls=("Running wait_for_message calls end with WAIT_CANCELLED.",))
def disconnect(call: ToolCall) -> ToolResult:
    device = call.device
    device.refresh_from_db()
    jid = device.phone_jid or device.session_jid
    if device.status not in (DeviceStatus.CONNECTED, DeviceStatus.QR_GENERATED) and not device.session_jid:
        return ToolResult("Nothing to disconnect: this device has no WhatsApp session.",
                          {"disconnected": False, "jid": None, "session_existed": False})
    if _connected(device):
        with contextlib.suppress(WhatsAppError):  # appear offline first; a failure does not stop the logout
            device_call(device, "set_presence", available=False, timeout_s=5)
    try:
        device = device_services.disconnect_device(device)
    except WhatsAppError as error:
        device.refresh_from_db()
        kept = bool(device.session_jid) or device.status == DeviceStatus.CONNECTED
        raise WhatsAppError(ErrorCode.WHATSAPP_ERROR, f"Logout failed ({error.code.code}: {error.message}). "
                            f"The local session {'still exists' if kept else 'was removed'}.",
                            details={"cause": error.code.code, "session_exists": kept}) from None
    body = lines(("Status", "disconnected (device unlinked)"), ("Logged out JID", jid or "unknown"),
                 ("Next step", "call authenticate with a phone number to link again"))
    return ToolResult(body, {"disconnected": True, "jid": jid or None, "session_existed": True})


@tool("authenticate", "Link this device to a WhatsApp account with a pairing code (QR image as fallback), or "
      "reconnect the stored session when called without a phone number.",
      text("phoneNumber", "The account's phone number in international format, e.g. \"+14155550123\". Needed "
           "for the first link only."),
      flag("waitForLink", "Wait until the phone has linked before answering (default "
           f"{str(bool(settings.AUTH_WAIT_FOR_LINK)).lower()}, from AUTH_WAIT_FOR_LINK).",
           default=bool(settings.AUTH_WAIT_FOR_LINK)),
      integer("linkTimeoutSec", "How long waitForLink waits (15-600 s).", minimum=15, maximum=600,
              default=min(600, max(15, settings.AUTH_LINK_TIMEOUT_SEC)), kind="number"),
      integer("pollIntervalSec", "How often waitForLink checks the link (2-60 s).", minimum=2, maximum=60,
              default=min(60, max(2, settings.AUTH_POLL_INTERVAL_SEC)), kind="number"),
      flag("force", "Re-pair even when already connected."),
      response="Already connected (JID); reconnected (JID); or a pairing code with the linking steps; or a QR "
               "image plus the same PNG as a data: URI.",
      errors=(ErrorCode.PERMISSION_AUTH_THROTTLED, ErrorCode.AUTH_SESSION_EXPIRED, ErrorCode.AUTH_PAIRING_FAILED,
              ErrorCode.AUTH_RATE_LIMITED),
      examples=('authenticate(phoneNumber="+14155550123")', "authenticate()",
                'authenticate(phoneNumber="+14155550123", waitForLink=true, linkTimeoutSec=120)'),
      related=("get_connection_status", "disconnect"),
      pitfalls=("At most 5 pairing attempts per 30 minutes; failures add a growing cooldown.",
                "A pairing code expires after about 60 s; a QR after about 20 s."))
def authenticate(call: ToolCall) -> ToolResult:
    device = call.device
    device.refresh_from_db()
    if _connected(device) and not call["force"]:
        throttles.reset_auth_cooldown(device)
        jid = device.phone_jid
        return ToolResult(lines(("Status", "already authenticated"), ("JID", jid)),
                          {"status": "connected", "jid": jid, "already_connected": True})
    phone = call["phoneNumber"]
    if not phone:
        if device.session_jid:
            device = device_services.reconnect_device(device)
            return ToolResult(lines(("Status", "reconnected with the stored session"), ("JID", device.phone_jid)),
                              {"status": "connected", "jid": device.phone_jid, "reconnected": True})
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "A phone number is needed for the first link: the account's "
                            "number in international format, e.g. +14155550123 or +44 7700 900123.",
                            details={"field": "phoneNumber"})
    digits = normalize_phone(phone, "phoneNumber")
    throttles.check_auth(device)
    if _connected(device):  # force: the old link goes first
        device = device_services.disconnect_device(device)
    try:
        code = _pairing_code(device, digits)
    except WhatsAppError as error:
        if error.code in (ErrorCode.AUTH_RATE_LIMITED, ErrorCode.DEVICE_DESTROYED):
            throttles.record_auth(device, "failed")
            raise
        return _qr_fallback(call, device, error)
    throttles.record_auth(device, "issued")
    data = {"status": "pairing_code", "pairing_code": code, "phone": digits, "expires_in_s": 60}
    body = [lines(("Pairing code", code), ("Phone", f"+{digits}")), LINK_STEPS,
            "The code expires in about 60 s; call authenticate again for a new one."]
    if call["waitForLink"]:
        linked, seconds, jid = _wait_for_link(device, call["linkTimeoutSec"], call["pollIntervalSec"])
        data |= {"linked": linked, "waited_s": seconds, "jid": jid}
        body.append(lines(("Linked", f"yes, as {jid} after {seconds} s")) if linked else
                    f"Not linked within {seconds} s: call authenticate again, or pass waitForLink: false.")
    return ToolResult("\n".join(body), data)


def _pairing_code(device: Device, digits: str) -> str:
    """A pairing code, with one retry 3 s later (reference §2.2 step 6)."""
    for attempt in range(PAIR_TRIES):
        try:
            return device_services.pair_device(device, digits)
        except WhatsAppError as error:
            if error.code in (ErrorCode.AUTH_RATE_LIMITED, ErrorCode.DEVICE_DESTROYED) or attempt + 1 == PAIR_TRIES:
                raise
            time.sleep(PAIR_RETRY_DELAY_S)
    raise AssertionError("unreachable")


def _qr_fallback(call: ToolCall, device: Device, cause: WhatsAppError) -> ToolResult:
    """Pairing failed twice: show a QR instead (a recent one is reused)."""
    device.refresh_from_db()
    young = (device.qr_is_valid and device.qr_code and device.updated_at
             and (fmt.timezone.now() - device.updated_at).total_seconds() < QR_REUSE_S)
    try:
        if not young:
            if device.qr_is_valid:
                device_services.disconnect_device(device)
            device = device_services.link_device(device)
    except WhatsAppError as error:
        throttles.record_auth(device, "failed")
        raise WhatsAppError(ErrorCode.AUTH_PAIRING_FAILED, f"Pairing failed ({cause.code.code}) and no QR code "
                            f"could be shown ({error.code.code}).",
                            details={"cause": cause.code.code, "qr_error": error.code.code}) from None
    throttles.record_auth(device, "issued")
    uri = qr.data_uri(device.qr_code)
    image = {"type": "image", "data": uri.split(",", 1)[1], "mimeType": "image/png"}
    body = (f"Pairing by code failed ({cause.code.code}); scan this QR code instead: WhatsApp → Settings → "
            "Linked Devices → Link a Device. It lives about 20 s; call authenticate again for a fresh one, then "
            "check get_connection_status.\nThe operator sees the same QR live in the admin.\n"
            f"QR as a data URI (paste into a browser): {uri}")
    return ToolResult(body, {"status": "qr", "qr_code": device.qr_code, "qr_image": uri,
                             "qr_expires_at": fmt.iso(device.qr_expires_at), "pairing_error": cause.code.code},
                      blocks=[image])


def _wait_for_link(device: Device, timeout_s: float, interval_s: float) -> tuple[bool, int, str]:
    started = time.monotonic()
    while True:
        device.refresh_from_db()
        waited = int(time.monotonic() - started)
        if _connected(device):
            return True, waited, device.phone_jid
        if time.monotonic() - started + interval_s > timeout_s:
            return False, waited, ""
        time.sleep(interval_s)
