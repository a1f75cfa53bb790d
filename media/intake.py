"""Turning what an API client sends (``data_base64`` or ``url``) into validated media bytes.

The REST and MCP send paths call, in order: :func:`decode_base64` or :func:`fetch_url` to get
bytes, then :func:`check_media` to get the MIME type to send. Each raises a
:class:`~whatsapp.errors.WhatsAppError`, never a raw exception, so bad input is never a 500.
Fetching lives in :mod:`media.fetch`, sniffing in :mod:`media.sniff`; both are re-exported here.
"""

from __future__ import annotations

import base64
import binascii

from django.conf import settings

from media.fetch import FetchedMedia, fetch_url
from media.sniff import MIME_ALLOW_LIST, canonical_mime, check_media
from whatsapp.errors import ErrorCode, WhatsAppError

__all__ = ["MIME_ALLOW_LIST", "FetchedMedia", "check_media", "decode_base64", "fetch_url"]

_URLSAFE = str.maketrans("-_", "+/")


def decode_base64(data: str, *, field: str = "data_base64", max_bytes: int | None = None) -> tuple[bytes, str | None]:
    """Decode a client's base64 strictly; return the bytes and the MIME type of a data URI, if any.

    Accepts the standard and URL-safe alphabets, missing padding, whitespace and line breaks
    (MIME-style wrapping) and a ``data:<mime>;base64,`` prefix. Anything else is refused rather
    than silently skipped, since a lenient decoder turns a truncated or mangled upload into a
    corrupt file that is only noticed by the recipient. The size is checked from the encoded
    length before decoding, so an oversize string costs no decoding work.
    """
    limit = settings.MEDIA_MAX_BYTES if max_bytes is None else max_bytes
    if not isinstance(data, str):
        raise _invalid(field, "must be a base64 string")
    # Bound the raw string first (generously: 4/3 expansion plus room for line breaks), so a
    # gigabyte string is refused before it is even copied.
    if len(data) > 2 * (4 * (limit // 3 + 1)) + 4096:
        raise _too_large(field, limit)

    text, mime = data.strip(), None
    if text[:5].lower() == "data:":
        header, comma, text = text.partition(",")
        params = header[5:].split(";")
        if not comma or "base64" not in (param.strip().lower() for param in params[1:]):
            raise _invalid(field, "data URI must be base64 encoded (data:<mime>;base64,...)")
        mime = canonical_mime(params[0]) or None

    compact = "".join(text.split()).translate(_URLSAFE)
    if not compact:
        raise _invalid(field, "is empty")
    if len(compact) % 4 == 1:
        raise _invalid(field, "is not valid base64 (truncated)")
    compact += "=" * (-len(compact) % 4)
    size = len(compact) // 4 * 3 - (len(compact) - len(compact.rstrip("=")))
    if size > limit:
        raise _too_large(field, limit, size)
    try:
        content = base64.b64decode(compact.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _invalid(field, "is not valid base64") from None
    return content, mime


def _invalid(field: str, problem: str) -> WhatsAppError:
    return WhatsAppError(ErrorCode.VALIDATION_ERROR, f"{field} {problem}.", details={"field": field})


def _too_large(field: str, limit: int, size: int | None = None) -> WhatsAppError:
    details: dict[str, object] = {"field": field, "max_bytes": limit}
    if size is not None:
        details["size"] = size
    return WhatsAppError(ErrorCode.MEDIA_TOO_LARGE, f"The media exceeds the {limit}-byte limit.", details=details)
