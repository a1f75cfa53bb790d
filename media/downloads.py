"""Serving stored media to the app that owns it (``GET /media?path=…``).

A client names a file by its ``media_path`` (``media/{app_id}/{device_id}-{message_id}.{ext}``), but
the path is never trusted: it must have exactly that shape (``VALIDATION_ERROR`` otherwise — so
``..``, absolute paths, backslashes and NUL bytes never reach the filesystem), and the file is found
through the caller's own :class:`~media.models.MediaFile` rows. The stored path is then resolved
(symlinks followed) and must stay inside ``MEDIA_ROOT`` *and* inside the app's own directory.
Everything that is not the caller's servable file is ``NOT_FOUND`` — another app's media is
indistinguishable from media that never existed.

Also here: the HTTP range and validator rules (single byte ranges, ``If-Range``, ``If-None-Match``),
kept out of the view so they are tested as plain functions.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from media.models import MediaFile
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import App, Message

MAX_PATH_CHARS = 500
_PATH = re.compile(r"media/(?P<app_id>[0-9a-fA-F-]{36})/(?P<device_id>[0-9a-fA-F-]{36})-"
                   r"(?P<message_id>[A-Za-z0-9_-]+)\.(?P<ext>[A-Za-z0-9]{1,16})")
_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RANGE = re.compile(r"^\s*bytes\s*=\s*(?P<start>\d*)\s*-\s*(?P<end>\d*)\s*$", re.IGNORECASE)
OCTET_STREAM = "application/octet-stream"

_REDOWNLOAD = ("The file was removed by media retention or cleanup. Inbound media can be downloaded "
               "again from WhatsApp while WhatsApp still holds it (about 30 days); otherwise ask the "
               "sender to resend.")
_DOWNLOAD_FIRST = ("Download the media first (the download_media tool; AUTO_DOWNLOAD_MEDIA downloads "
                   "inbound media as it arrives), then fetch this path again.")


@dataclass(frozen=True)
class MediaRef:
    """The parts of a well-formed media path."""

    path: str
    app_id: uuid.UUID
    device_id: uuid.UUID
    message_id: str


@dataclass
class OpenedMedia:
    """A file the caller may read, already open (so a later purge cannot turn it into a 500)."""

    file: IO[bytes]
    size: int
    mime_type: str
    file_name: str
    etag: str
    media_file: MediaFile


def _unsatisfiable(size: int, header: str) -> WhatsAppError:
    return WhatsAppError(ErrorCode.RANGE_NOT_SATISFIABLE,
                         f"Range {header.strip()!r} is outside the file ({size} bytes).",
                         details={"field": "Range", "size": size})


def _not_found(path: str, message: str = "No such media for this app.", **details: Any) -> WhatsAppError:
    recovery = details.pop("recovery", None)
    return WhatsAppError(ErrorCode.NOT_FOUND, message, details={"path": path, **details}, recovery=recovery)


def parse_path(raw: str) -> MediaRef:
    """The parts of ``media/{app_id}/{device_id}-{message_id}.{ext}``; ``VALIDATION_ERROR`` for any
    other shape (absolute, ``..``, backslashes, control characters, missing parts)."""
    match = _PATH.fullmatch(raw) if isinstance(raw, str) and len(raw) <= MAX_PATH_CHARS else None
    if match is None:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR,
                            "path must be a media_path as given by the gateway: "
                            "media/{app_id}/{device_id}-{message_id}.{ext}", details={"field": "path"})
    try:
        app_id, device_id = uuid.UUID(match["app_id"]), uuid.UUID(match["device_id"])
    except ValueError:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "path: app_id and device_id must be UUIDs.",
                            details={"field": "path"}) from None
    return MediaRef(path=raw, app_id=app_id, device_id=device_id, message_id=match["message_id"])


def _missing(app: App, ref: MediaRef) -> WhatsAppError:
    """Why the caller's path names no stored file: not downloaded yet, no media, or nothing at all."""
    message = Message.objects.filter(device_id=ref.device_id, device__app=app, wa_id=ref.message_id).first()
    if message is None:
        return _not_found(ref.path)
    if not message.has_media:
        return _not_found(ref.path, "The message has no media.", message_id=message.wa_id, reason="no_media")
    return _not_found(ref.path, "The message's media has not been downloaded yet.", message_id=message.wa_id,
                      reason="not_downloaded", recovery=_DOWNLOAD_FIRST)


def _confined(app: App, media_file: MediaFile) -> Path | None:
    """The resolved file, or None when it (through symlinks) leaves MEDIA_ROOT or the app's directory."""
    try:
        full = media_file.absolute_path
    except ValueError:
        return None
    app_dir = (Path(settings.MEDIA_ROOT) / "media" / str(app.pk)).resolve()
    return full if full.is_relative_to(app_dir) else None


def _file_name(media_file: MediaFile) -> str:
    """The sender's file name when the message has one (reduced to a safe base name), else the
    path's base name."""
    message = media_file.message
    name = (message.media_file_name if message is not None else "") or ""
    name = "".join(ch for ch in name.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable()).strip()
    if name in ("", ".", ".."):
        name = Path(media_file.path).name
    return name[:255]


def _etag(media_file: MediaFile, stat: os.stat_result) -> str:
    if _SHA256.match(media_file.sha256 or ""):
        return f'"{media_file.sha256}"'
    return f'W/"{stat.st_size:x}-{stat.st_mtime_ns:x}"'


def open_media(app: App, raw_path: str) -> OpenedMedia:
    """Open the caller's media file named by ``raw_path``.

    ``VALIDATION_ERROR`` for a malformed path; ``NOT_FOUND`` for another app's path, a path without
    a stored file (``details.reason``: ``not_downloaded`` — inbound media known by its metadata only —
    or ``no_media``), a file that escapes the app's directory, and a file purged from disk
    (``details.reason: purged``).
    """
    ref = parse_path(raw_path)
    if ref.app_id != app.pk:
        raise _not_found(ref.path)
    media_file = MediaFile.objects.select_related("message").filter(app=app, path=ref.path).first()
    if media_file is None:
        raise _missing(app, ref)
    full = _confined(app, media_file)
    if full is None:
        raise _not_found(ref.path)
    try:
        handle = open(full, "rb")  # noqa: SIM115 - the response streams and closes it
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise _not_found(ref.path, "The media file is no longer stored.", reason="purged",
                         recovery=_REDOWNLOAD) from None
    stat = os.fstat(handle.fileno())
    mime = media_file.mime_type if _MIME.match(media_file.mime_type or "") else OCTET_STREAM
    return OpenedMedia(file=handle, size=stat.st_size, mime_type=mime, file_name=_file_name(media_file),
                       etag=_etag(media_file, stat), media_file=media_file)


# --- HTTP validators and ranges --------------------------------------------------------------------


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def not_modified(etag: str, if_none_match: str | None) -> bool:
    """``If-None-Match`` matches (weak comparison, ``*`` included): answer 304."""
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or _opaque(etag) in {_opaque(tag) for tag in tags}


def byte_range(header: str | None, size: int, *, etag: str, if_range: str | None = None) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte positions a single ``Range: bytes=…`` asks for, or None
    to send the whole file: no header, a header that does not parse (ignored, as RFC 9110 says),
    several ranges (we send the whole file rather than multipart), or an ``If-Range`` that is not
    our strong ETag. Raises ``RANGE_NOT_SATISFIABLE`` for a range outside the file."""
    if not header:
        return None
    if if_range is not None and (if_range.strip() != etag or etag.startswith("W/")):
        return None
    match = _RANGE.match(header)
    if match is None or not (match["start"] or match["end"]):
        return None
    if not match["start"]:  # suffix: the last N bytes
        length = int(match["end"])
        if length == 0 or size == 0:
            raise _unsatisfiable(size, header)
        return max(0, size - length), size - 1
    first = int(match["start"])
    if match["end"] and int(match["end"]) < first:
        return None  # not a valid range-spec: ignored
    if first >= size:
        raise _unsatisfiable(size, header)
    return first, min(int(match["end"]) if match["end"] else size - 1, size - 1)


class FileSlice:
    """``length`` bytes of an open file from ``first`` on: what a 206 streams. No ``tell``/``seek``,
    so Django's FileResponse does not measure it (the caller sets ``Content-Length``)."""

    def __init__(self, file: IO[bytes], first: int, length: int) -> None:
        self._file = file
        self._left = length
        file.seek(first)

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        chunk = self._file.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        self._file.close()
