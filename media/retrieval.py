"""Downloading a stored message's media on demand (the MCP ``download_media`` tool, reference/
mcp-tools.md §2.14 steps 4-9; the caller has resolved the chat and applied the whitelist).

:func:`download_media` runs in the caller's process, in this order:

4. a file already stored for the message (and still on disk) is returned at once: no network
   call, no token;
5. the app's quota must hold the expected size (``MEDIA_QUOTA_EXCEEDED``), and the size must be
   within ``MEDIA_MAX_BYTES`` (``MEDIA_TOO_LARGE``);
6. one download token (``MEDIA_RATE_LIMITED``), taken just before the network call;
7. the device's runner downloads (the runner holds the WhatsApp client): a ``call`` command whose
   method ``download_media`` the runner serves with :func:`fetch_to_store`. The bytes go from the
   engine straight to disk in the runner's process — never through the command's JSON. A transient
   failure is retried once; media WhatsApp no longer holds is ``MEDIA_EXPIRED``, any other failure
   ``MEDIA_DOWNLOAD_FAILED``;
8. the file is written (atomically) to ``MEDIA_ROOT/media/{app_id}/{device_id}-{message_id}.{ext}``
   — the path ``GET /media`` serves — with the extension of the content's real MIME type, never
   one on the dangerous list, and the path confined to the app's media directory;
9. a :class:`~media.models.MediaFile` row records it, linked to the message.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mimetypes
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from media.guard import check_quota
from media.models import MediaDirection, MediaFile, storage_path
from media.sniff import DANGEROUS_EXTENSIONS, OCTET_STREAM, canonical_mime, real_mime
from whatsapp.engine.base import Engine, MediaRef
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Device, Message
from whatsapp.services import throttles
from whatsapp.services.commands import device_call, live

__all__ = ["DOWNLOAD_TIMEOUT_S", "RetrievedMedia", "download_media", "extension_for", "fetch_to_store"]

logger = logging.getLogger("media.retrieval")

DOWNLOAD_TIMEOUT_S = 120.0  # up to 64 MiB from WhatsApp's media servers, plus the retry
RETRY_DELAY_S = 1.0
#: Errors the caller gets as they are; any other failure becomes MEDIA_DOWNLOAD_FAILED.
_PASSED_THROUGH = frozenset({ErrorCode.MEDIA_EXPIRED, ErrorCode.NO_MEDIA, ErrorCode.MEDIA_TOO_LARGE,
                             ErrorCode.MEDIA_QUOTA_EXCEEDED, ErrorCode.MESSAGE_NOT_CONNECTED, ErrorCode.NOT_FOUND})

_EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif", "image/heic": "heic",
    "video/mp4": "mp4", "video/3gpp": "3gp", "video/quicktime": "mov", "video/webm": "webm",
    "video/x-matroska": "mkv", "video/x-msvideo": "avi",
    "audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/aac": "aac", "audio/amr": "amr",
    "audio/wav": "wav", "audio/flac": "flac",
    "application/pdf": "pdf", "text/plain": "txt", "text/csv": "csv", "application/zip": "zip",
    "application/msword": "doc", "application/vnd.ms-excel": "xls", "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
}


@dataclass(frozen=True)
class RetrievedMedia:
    """A message's media as stored locally, and whether getting it took a network download."""

    media_type: str  # the message's kind: image, video, audio, document or sticker
    mime: str
    size: int
    path: str  # absolute local path
    file_name: str  # the sender's file name, if any
    chat_jid: str
    downloaded: bool


def extension_for(mime: str) -> str:
    """The file extension (without dot) for a MIME type; ``bin`` when unknown or dangerous."""
    mime = canonical_mime(mime)
    extension = _EXTENSIONS.get(mime) or (mimetypes.guess_extension(mime) or "").lstrip(".").lower()
    if not extension or not extension.isalnum() or extension in DANGEROUS_EXTENSIONS:
        return "bin"
    return extension


# --- the caller's side --------------------------------------------------------------------------


def download_media(device: Device, message: Message) -> RetrievedMedia:
    """The message's media as a local file, downloaded through the device's runner unless it is
    stored already (see the module docstring for the steps and their errors)."""
    if message.device_id != device.pk:
        raise WhatsAppError(ErrorCode.NOT_FOUND, "No such message on this device.",
                            details={"message_id": message.wa_id})
    if not message.has_media:
        raise WhatsAppError(ErrorCode.NO_MEDIA, details={"message_id": message.wa_id, "type": message.type})
    stored = _stored_file(message)
    if stored is not None:
        return _retrieved(message, stored, downloaded=False)
    if not message.media_info:
        raise WhatsAppError(ErrorCode.NO_MEDIA, "WhatsApp gave no download information for this message's media.",
                            details={"message_id": message.wa_id, "type": message.type})
    live(device)
    expected = message.media_size or 0
    _check_size(expected, message)
    check_quota(device.app, expected)
    throttles.take(device, "download")
    try:
        device_call(device, "download_media", timeout_s=DOWNLOAD_TIMEOUT_S, message_id=message.pk)
    except WhatsAppError as error:
        raise _download_error(error, message) from None
    media_file = MediaFile.objects.get(message=message)
    return _retrieved(message, media_file, downloaded=True)


def _stored_file(message: Message) -> MediaFile | None:
    """The message's stored file if it is still on disk. A record whose file is gone (purged,
    deleted by hand) is dropped, so it neither counts against the quota nor blocks the download."""
    media_file = MediaFile.objects.filter(message=message).first()
    if media_file is None:
        return None
    try:
        if media_file.absolute_path.is_file():
            return media_file
    except ValueError:  # a recorded path outside MEDIA_ROOT: never served
        pass
    media_file.delete()
    return None


def _check_size(size: int, message: Message) -> None:
    limit = settings.MEDIA_MAX_BYTES
    if size > limit:
        raise WhatsAppError(ErrorCode.MEDIA_TOO_LARGE, f"The media is {size} bytes; the limit is {limit}.",
                            details={"message_id": message.wa_id, "size": size, "max_bytes": limit})


def _download_error(error: WhatsAppError, message: Message) -> WhatsAppError:
    if error.code in _PASSED_THROUGH:
        return error
    return WhatsAppError(ErrorCode.MEDIA_DOWNLOAD_FAILED, f"Downloading the media failed: {error.message}",
                         details={"message_id": message.wa_id, "cause": error.code.code})


def _display_name(name: str) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable()).strip()[:255]


def _retrieved(message: Message, media_file: MediaFile, *, downloaded: bool) -> RetrievedMedia:
    return RetrievedMedia(media_type=message.type, mime=media_file.mime_type, size=media_file.size,
                          path=str(media_file.absolute_path), file_name=_display_name(message.media_file_name),
                          chat_jid=message.chat.jid, downloaded=downloaded)


# --- the runner's side --------------------------------------------------------------------------


def media_ref(message: Message) -> MediaRef:
    """What the engine needs to download the message's media, as ingest stored it."""
    return MediaRef(mime_type=message.media_mime_type, size=message.media_size, sha256=message.media_sha256,
                    file_name=message.media_file_name, duration_s=message.media_duration_s,
                    ptt=message.media_ptt, locator=dict(message.media_info or {}))


def fetch_to_store(engine: Engine, device: Device, message_id: int) -> dict[str, Any]:
    """Run by the device's runner: download the message's media with its engine, store the file
    and its MediaFile row, and return what was stored (path relative to MEDIA_ROOT, size, MIME)."""
    message = Message.objects.filter(pk=message_id, device=device).first()
    if message is None:
        raise WhatsAppError(ErrorCode.NOT_FOUND, "No such message on this device.", details={"id": message_id})
    media_file = _stored_file(message)  # a concurrent request may have stored it meanwhile
    if media_file is None:
        if not message.media_info:
            raise WhatsAppError(ErrorCode.NO_MEDIA, details={"message_id": message.wa_id})
        media_file = store_download(device, message, _download(engine, media_ref(message)))
    return {"path": media_file.path, "size": media_file.size, "mime_type": media_file.mime_type}


def _download(engine: Engine, ref: MediaRef) -> bytes:
    """The engine's download, retried once after a transient failure."""
    try:
        return engine.download_media(ref)
    except WhatsAppError as error:
        if not error.code.retryable:
            raise
        logger.info("media download failed (%s); retrying once", error.code.code)
    time.sleep(RETRY_DELAY_S)
    return engine.download_media(ref)


def store_download(device: Device, message: Message, data: bytes) -> MediaFile:
    """Write downloaded bytes as the message's media file (atomically: a reader never sees half a
    file) and record it. The quota is checked again with the real size, which the expected size
    (when WhatsApp gave one at all) only announced."""
    _check_size(len(data), message)
    mime = real_mime(data, declared_mime=message.media_mime_type, file_name=message.media_file_name)
    relative = storage_path(device.app_id, device.pk, message.wa_id, extension_for(mime))
    with transaction.atomic():
        MediaFile.objects.filter(message=message).delete()  # a record whose file was gone
        check_quota(device.app, len(data))
        _write(relative, data, device)
        try:
            return MediaFile.objects.create(
                app_id=device.app_id, device=device, message=message, path=relative,
                direction=MediaDirection.OUTBOUND if message.from_me else MediaDirection.INBOUND,
                mime_type=mime or OCTET_STREAM, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        except Exception:
            with contextlib.suppress(OSError):
                (Path(settings.MEDIA_ROOT) / relative).unlink()
            raise


def _write(relative: str, data: bytes, device: Device) -> None:
    """Write ``data`` at ``MEDIA_ROOT/relative`` through a temporary file and a rename (which
    replaces a planted symlink instead of writing through it), refusing a target outside the app's
    media directory as ``GET /media`` resolves it."""
    root = Path(settings.MEDIA_ROOT)
    target = root / relative
    app_dir = root / "media" / str(device.app_id)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(app_dir.resolve()):
            raise WhatsAppError(ErrorCode.MEDIA_DOWNLOAD_FAILED, "The media path leaves the app's media directory.",
                                details={"path": relative})
        descriptor, temporary = tempfile.mkstemp(prefix=".download-", dir=target.parent)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.chmod(temporary, 0o644)  # as other media files: mkstemp makes it private to its owner
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise WhatsAppError(ErrorCode.MEDIA_DOWNLOAD_FAILED, f"Storing the media failed: {error.strerror or error}.",
                            details={"path": relative, "reason": "storage"}) from None
