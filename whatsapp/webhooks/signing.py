"""Signing a delivery, two ways, so that any receiver can check it came from us and is fresh.

* wa-server's headers: ``X-WA-Request-ID`` (stable across retries), ``X-WA-Event``,
  ``X-WA-Timestamp`` (Unix seconds of this attempt) and
  ``X-WA-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>``;
* Standard Webhooks (https://www.standardwebhooks.com): ``webhook-id``, ``webhook-timestamp`` and
  ``webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>``, which the
  ``standardwebhooks`` libraries verify. The key is the secret's UTF-8 bytes, or — for a secret
  written ``whsec_<base64>`` — the decoded bytes, so ``Webhook(secret.encode())`` (or the
  ``whsec_`` secret itself) verifies.

While a rotated-out secret is still in its overlap window both secrets sign: ``X-WA-Signature``
then holds two comma-separated ``sha256=`` values and ``webhook-signature`` two space-separated
``v1,`` values (as the Standard Webhooks spec prescribes); a receiver accepts the delivery when any
of them matches. The signed timestamp lets receivers refuse replays of old captures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key of ``secret`` (its bytes; a ``whsec_`` secret's base64 payload decoded)."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX):] + "==", validate=False)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def wa_signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(signing_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(signing_key(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def delivery_headers(*, secrets: list[str], request_id: str, event: str, timestamp: int,
                     body: bytes) -> dict[str, str]:
    """Every header of one attempt. Without a secret the delivery is sent unsigned (ids and
    timestamps only): signing needs a shared secret, and an app may choose not to set one."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "whatsapp-gateway-webhooks/1",
        "X-WA-Request-ID": request_id,
        "X-WA-Event": event,
        "X-WA-Timestamp": str(timestamp),
        "webhook-id": request_id,
        "webhook-timestamp": str(timestamp),
    }
    if secrets:
        headers["X-WA-Signature"] = ",".join(wa_signature(secret, timestamp, body) for secret in secrets)
        headers["webhook-signature"] = " ".join(
            standard_signature(secret, request_id, timestamp, body) for secret in secrets)
    return headers


def verify_wa_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Receiver-side check of ``X-WA-Signature`` (used by tests and documented for receivers)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    try:
        timestamp = int(lowered.get("x-wa-timestamp", ""))
    except ValueError:
        return False
    expected = wa_signature(secret, timestamp, body)
    offered = [value.strip() for value in lowered.get("x-wa-signature", "").split(",")]
    return any(hmac.compare_digest(expected, value) for value in offered)
